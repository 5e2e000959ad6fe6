"""About: how to read each chart, in plain words, with the formulas."""

import streamlit as st

from vizcore.engine.config import RunConfig
from vizcore.ui import diagram
from vizcore.ui.routing import use_app_router

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("About the charts")

st.markdown(r"""
NormLab trains a small network on your CPU and, every few steps, records what each **block** of the
network sees. A block is a linear layer (or a convolution), a **normalization** layer and an
**activation**. Each block has three **taps** where we look: the linear layer's output, the norm
layer's output and the activation's output.
""")
diagram.explain(RunConfig())  # the default network, its taps marked, and what each tap shows

st.markdown(r"""
### What the norms compute
For a value $x$ in a group of values with mean $\mu$ and variance $\sigma^2$:
$$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta$$
with a learned scale $\gamma$ and shift $\beta$ per unit (RMS norm has no $\beta$). The norms differ only in **which values form the group**:

| norm | the group ($\mu$, $\sigma$ computed over) | depends on the batch? |
|---|---|---|
| batch | one unit (channel), over all examples of the batch (and all positions) | yes; at test time running averages are used instead |
| layer | all units of one example | no |
| group | a group of units (channels) of one example | no |
| instance | one channel of one image, over its positions (cnn only) | no |
| rms | all units of one example, without subtracting the mean: $y = \gamma\, x / \sqrt{\overline{x^2} + \epsilon}$ (in a cnn, over the whole map, with one $\gamma$ per value of it) | no |

The Live lab's **Inside the norm** tab steps through this on a real mini-batch of the network you train: the
values, $\mu$ and $\sigma$ with the values each is computed over outlined, $\hat x$, then $\gamma \hat x + \beta$;
in eval mode, batch norm's running averages instead.

Batch norm's running averages are updated at each training step:
$\mu_{run} \leftarrow (1 - m)\,\mu_{run} + m\,\mu_{batch}$ with momentum $m$ (0.1 by default).

### The charts
- **Training curves.** Training loss and accuracy are averaged over every batch since the previous point,
  measured while training (train mode). Test loss and accuracy are measured on held-out data in **eval mode**,
  where batch norm uses its running averages; a gap between the two can come from those averages.
- **Distribution over time** (heatmap). Each row is one block; x is the training step, y the value, and the
  colour is $\log_{10}(1 + \text{count})$ of values in each bin. The bin edges are fixed for the whole run and
  shared by all blocks, so you can compare frames and blocks directly. Values outside the range are counted
  separately (the subtitle says how many), not piled into the edge bins.
- **Histograms** at the latest snapshot, one per block, with the 15th, 50th and 85th percentiles marked.
- **Percentile bands.** The 15th–85th percentile band and the median over training, pooled over all of a block's
  units (Ioffe & Szegedy's Figure 1 follows a single unit). A band that drifts or changes width is a layer whose
  input distribution keeps changing.
- **Gradients and updates** (log scale). The norm of each block's weight gradient $\lVert \nabla W \rVert$, and
  the update:data ratio $\lVert W_{t+1} - W_t \rVert / \lVert W_t \rVert$: the size of the step the optimizer
  actually took, relative to the weights. Karpathy's rule of thumb (makemore part 3) is about $10^{-3}$: far
  below, the layer barely learns; far above, it may be unstable. It is a rough guide from one setup, not a
  threshold: this app's default run starts near $10^{-2}$ and trains well, settling near $10^{-3}$.
- **Saturation.** The fraction of activations in the flat part of their curve, where almost no gradient flows
  back: ReLU outputs of exactly 0; tanh with $|y| > 0.97$; sigmoid with $|2y - 1| > 0.97$; GELU inputs below
  $-2.5$ (its output cannot tell: small negative inputs give the same tiny negative outputs). A **dead** unit is one
  saturated for every example of the batch.
- **Decision boundary** (2-D data). The network's probability of class 1 over the plane; the black line is
  where it is 50%.

### What every statistic is measured on
Each snapshot describes one training step: the batch the network trained on, in train mode, with the weights
before that step's update. So at batch size 4, the histograms come from 4 examples: noisy, and that is the
point: it is exactly what batch norm sees.

Two snapshots of a layer on *different* batches differ even when no weight changed: that is sampling noise,
not shift. So every run also records each layer on a **fixed probe set**: 256 training examples drawn once,
the same at every snapshot, in train mode (normalized with the probe's own statistics), without touching
the running averages or anything training uses. On the probe, a network that stops learning shows exactly
zero drift; what moves is the network. The Live lab can show either ("Distributions of"); every drift
number in the app (Covariate shift page, experiment 1, Santurkar's input shift) is measured on the probe,
with the batch-to-batch noise shown beside it for scale.

### Honest caveats
- Networks here are small and the data is small (1,797 digit images, or 1,000 2-D points). Effects that papers
  report on ImageNet can be weaker, stronger, or absent here; the Experiments page says which, with numbers.
- "Internal covariate shift" is the original motivation for batch norm (Ioffe & Szegedy, 2015). Later work
  (Santurkar et al., 2018) found that batch norm's benefit does not come from reducing it: the noisy-norm switch
  lets you inject shift on purpose and see for yourself.
""")
