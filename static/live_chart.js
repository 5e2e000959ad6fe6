// The live chart's drawing code (vizcore/ui/live_chart.py): loaded once per page as a module, so a
// chart's update message carries its figure and a few bytes of loader, not this source.

function loadPlotly(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__normlabPlotly) {
    window.__normlabPlotly = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => { window.__normlabPlotly = null; reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }
  return window.__normlabPlotly;
}

// Axis ranges the user chose (zoom, pan) win over the figure's own until a double-click resets them:
// uirevision alone cannot keep them, since a live figure's ranges change with every update.
function rememberZoom(div) {
  if (div._normlabHooked) return;
  div._normlabHooked = true;
  div._userRanges = {};
  div.on("plotly_relayout", (ev) => {
    for (const [key, value] of Object.entries(ev || {})) {
      const m = key.match(/^([xy]axis\d*)\.(range|autorange)(\[(\d)\])?$/);
      if (!m) continue;
      const axis = m[1];
      if (m[2] === "autorange") { delete div._userRanges[axis]; continue; }
      const r = div._userRanges[axis] || (div._fullLayout[axis] ? div._fullLayout[axis].range.slice() : [null, null]);
      if (m[4] !== undefined) r[Number(m[4])] = value; else { r[0] = value[0]; r[1] = value[1]; }
      div._userRanges[axis] = r;
    }
  });
}

export function draw(component) {
  const { parentElement } = component;
  let data = component.data;
  if (!data) return;
  if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
    data = JSON.parse(new TextDecoder().decode(data));  // sent as JSON bytes (serialized once per figure)
  }
  let div = parentElement.querySelector("div.normlab-chart");
  if (!div) {
    div = document.createElement("div");
    div.className = "normlab-chart";
    parentElement.appendChild(div);
  }
  const fig = data.figure;
  div.style.height = (fig.layout && fig.layout.height ? fig.layout.height : 400) + "px";
  div.dataset.frames = String((Number(div.dataset.frames) || 0) + 1);
  loadPlotly(data.src).then((Plotly) => {
    const layout = Object.assign({}, fig.layout, { uirevision: data.uirevision || "keep", autosize: true });
    delete layout.width;
    if (div._userRanges && div._uirevision === layout.uirevision) {
      for (const [axis, range] of Object.entries(div._userRanges)) {
        layout[axis] = Object.assign({}, layout[axis], { range: range.slice(), autorange: false });
      }
    } else if (div._userRanges) {
      div._userRanges = {};  // a new view (zoom choice, presenter mode): the page's ranges apply again
    }
    div._uirevision = layout.uirevision;
    const config = Object.assign({ displaylogo: false, responsive: true }, data.config || {});
    return Plotly.react(div, fig.data, layout, config);
  }).then(() => {
    rememberZoom(div);
    div.dataset.drawn = String((Number(div.dataset.drawn) || 0) + 1);
  }).catch((e) => { div.textContent = "This chart could not be drawn: " + e.message; });
}
