"""Classroom load: many sessions train on one `streamlit run app.py` server at once (issue 5).

`sessions` (30) tabs open the Live lab together on one real server (bench.browser's
`start_server`: loopback port, a temporary run store) and each presses Start. The first
half open the same link (`/?dataset=moons&steps=1500`, the teacher's preset, at `pace`: 25
steps/s, the Live lab's default, as a class uses it); each of the others adds its own `seed`,
so there are 1 + sessions/2 distinct configurations, each trained beside its twin.

Running 20 headless Chromiums on 2 cores is impossible, so every tab is a protocol-level
client: a websocket to `/_stcore/stream` that speaks Streamlit's own protobufs
(`BackMsg`/`ClientState` out, `ForwardMsg` in) the way the frontend does, and renders
nothing. It sends the first `rerun_script` with the link's query string, follows the page
hash (`navigation`) and query string (`page_info_changed`) the server sends back, clicks
Start (a rerun whose widget states hold the button's id with `trigger_value`), and polls
like the browser: each `auto_rerun` message starts a timer that reruns that fragment every
`interval` seconds (0.3 s progress + curves, 1.5 s distributions) until `stop_auto_rerun`
or the next full run. The browser's own rendering and JS loading time is not in these
numbers: bench/browser.py measures that in a real Chromium. This process shares the
machine's cores with the server, but only parses messages (a few % of one core).

The numbers:

- classroom sessions: tabs whose progress text reached a final status (`completed`,
  `diverged` or `stopped`, also when shown as a saved run) and whose polling then stopped,
  within `SESSION_TIMEOUT_S` of the click; errors: exception elements, `st.error` alerts,
  script compile errors and dropped websockets any tab saw (probes included), and a
  progress total other than `steps` (lost settings); trainings started: tabs whose Start
  began a training job of its own (no "already training in another session" notice, no
  "trained before" saved run: the app's own messages), beside the run files (`*.json`,
  one per configuration) the store holds afterwards. Both should equal the number of
  distinct configurations.
- classroom new session: a latecomer. Once every tab of the class has its page, and then
  every `PROBE_EVERY_S` while the class trains, a fresh tab opens the preset link; the time
  from opening the websocket to `script_finished` of its first full run with the Start
  button in it (the page is usable). Median and max, beside the median of `IDLE_PROBES`
  tabs on the idle (warmed-up) server before the load. A probe not usable within
  `LOAD_TIMEOUT_S` is counted as such, outside the median and max. The class's own 20
  simultaneous page loads are the sessions row's "page load" numbers.
- before all this the teacher opens the link once (a fresh server's first page pays the
  imports and starts its warm-up, `vizcore.warmup`), and the class arrives
  `TEACHER_HEAD_START_S` later, and not before the server's RSS is steady.
- classroom memory: the server's VmRSS (sampled from /proc every `RSS_EVERY_S`) as the class
  arrives, its peak during the class, and once steady after every tab closed (the server keeps
  closed sessions `LEAVE_TTL_S`, server.disconnectedSessionTTL), with its thread counts. With
  `--classes N` the same class comes N times, one after the other (no latecomer probes after
  the first): the RSS after each says whether what the first class left is reused or added to.
- also in `Row.data`: wall time from the first connect to the last tab done, each tab's
  click-to-done time and why an unfinished one stopped, polls sent and fragment runs
  answered, the server's peak RSS (VmHWM) and CPU seconds, and the warnings and
  exceptions in the server's log (in the note too: the server sees what no tab does).

Nothing asserts: a failure becomes a row reading "failed: ...".
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import Row
from .browser import start_server, stop_server

NAMES = ("classroom sessions", "classroom new session", "classroom memory")
MEMORY_AIM = 1.1  # the server's RSS after the class left, against before it came
PRESET = "dataset=moons&steps={steps}&every=20"  # 2-D data: a 1,500-step run takes seconds unpaced
PACE = "25"  # steps per second: the Live lab's default pace, as a class uses it (a value of its pace control)
SESSION_TIMEOUT_S = 180.0  # click -> done, per tab, beyond the time the pace itself takes
SETTLE_S = 15.0  # after the final status: time for the page's last full rerun to stop the polling
LOAD_TIMEOUT_S = 60.0  # connect -> first page usable
PROBE_EVERY_S = 2.0
TRACE_LEN = 40  # messages a tab remembers, for a timeout's message
TEACHER_HEAD_START_S = 5.0  # between the teacher's first page and the class arriving
PROFILE_MAX_S = 300.0  # py-spy's own time limit; it is stopped when the class is done
IDLE_PROBES = 3
# A tab's fragment runs touch its job, but under load they can be many seconds apart: the
# jobs must not pause as "nobody watching" meanwhile. Far beyond any run here.
# The Experiments page's warm-up (every experiment trained in two nice-19 processes, minutes on 2
# cores) is off: a teacher's server has finished it before class, and its results landing in the
# server's cache mid-class were counted as the class's memory.
SERVER_ENV = {"NORMLAB_IDLE_PAUSE": "3600", "NORMLAB_IDLE_STOP": "7200", "NORMLAB_WARM_EXPERIMENTS": "0"}
# Streamlit keeps a closed tab's session this long (120 s by default) before releasing it: the
# server's memory after the class leaves is read once the sessions are gone, not 2 minutes later.
LEAVE_TTL_S = 5
LEAVE_WAIT_S = 90.0  # after the TTL: at most this long for the RSS to settle (unchanged for SETTLED_FOR_S)
SETTLED_FOR_S = 6.0
RSS_EVERY_S = 0.5  # the server's RSS is sampled this often from /proc

STEP_RE = re.compile(r"Step ([\d,]+) of ([\d,]+)")
FINAL_RE = re.compile(r"· (?:loaded \()?(completed|diverged|stopped)\b")
SHARED_NOTICE = "already training in another session"
CACHED_NOTICE = "was trained before"
FINISHED_OK, FINISHED_FRAGMENT = 0, 3  # ForwardMsg.ScriptFinishedStatus values


class Tab:
    """One browser tab at the protocol level: the state the frontend keeps, minus the rendering."""

    def __init__(self, url: str, query: str, name: str):
        self.url, self.query, self.name = url, query, name
        self.page_hash = ""  # set from `navigation`: the frontend sends it with every rerun
        self.navs: list[tuple[float, list[str]]] = []  # each `navigation` message: when, and its page names
        self.buttons: dict[str, tuple[str, bool]] = {}  # label -> (widget id, disabled), latest full run
        self.progress = ""  # the progress text last drawn
        self.notices: set[str] = set()  # info alerts ever shown
        self.errors: list[str] = []
        self.timers: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id -> (interval, task)
        self.running = False  # a script run (full or fragment) is in progress: new_session .. script_finished
        self.full_done = 0  # full runs that finished successfully
        self.polls = self.fragment_runs = self.bytes = 0
        self.first_step_at: float | None = None  # when the progress first showed a step > 0
        self.closing = False
        self.ws = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self.trace: collections.deque[str] = collections.deque(maxlen=TRACE_LEN)  # what went in and out, last
        self._t0 = time.monotonic()

    # ----- connection -----
    async def open(self) -> None:
        """Connect and send the first rerun, as the frontend does on page load."""
        from websockets.asyncio.client import connect

        # Subprotocol "streamlit" as the frontend offers it; its 2nd entry (XSRF token) only
        # unlocks auth cookies and the 3rd reconnects a session, so both stay empty here.
        # Origin = same host, like a browser (no Origin would be accepted too).
        self.ws = await connect(
            self.url.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocols=["streamlit"],
            origin=self.url,
            max_size=None,
            open_timeout=LOAD_TIMEOUT_S,
            close_timeout=2,
        )
        self._reader = asyncio.create_task(self._read())
        await self.rerun()

    async def close(self) -> None:
        """Stop the timers and close the websocket."""
        self.closing = True
        self._stop_timers()
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def rerun(self, fragment_id: str = "", auto: bool = False, trigger: str = "") -> None:
        """Send a `rerun_script` BackMsg: the page load, a button click (`trigger`) or a fragment poll."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash  # "" and page_name "" on the first run: the default page
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        if trigger:
            # The frontend sends every widget's value; the server keeps the values it already
            # has for widgets left out (session state), so only the click is sent.
            w = cs.widget_states.widgets.add()
            w.id, w.trigger_value = trigger, True
        ctx = cs.context_info
        ctx.timezone, ctx.locale, ctx.color_scheme = "UTC", "en-US", "light"
        ctx.url = f"{self.url}/?{self.query}" if self.query else f"{self.url}/"
        # No cached_message_hashes: the server then sends every message whole, never a ref_hash.
        self._note(f"> rerun {'poll ' + fragment_id[:6] if fragment_id else 'click' if trigger else 'full'}")
        await self.ws.send(msg.SerializeToString())

    async def click(self, label: str) -> None:
        """Click the button `label` drawn by the latest full run."""
        await self.rerun(trigger=self.buttons[label][0])

    # ----- what the server sends -----
    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                self.bytes += len(raw)
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._handle(msg)
                self._changed.set()
        except Exception as e:
            if not self.closing:
                self.errors.append(f"{self.name}: websocket: {type(e).__name__}: {e}")
        if not self.closing:
            self.errors.append(f"{self.name}: the server closed the websocket")
            self.closing = True
        self._stop_timers()
        self._changed.set()

    def _note(self, what: str) -> None:
        self.trace.append(f"{time.monotonic() - self._t0:.2f} {what}")

    def _handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            fids = list(msg.metadata.run.fragment_ids)
            self._note(f"< new_session {'fragment ' + fids[0][:6] if fids else 'full'}")
        elif kind == "auto_rerun":
            self._note(f"< auto_rerun {msg.auto_rerun.fragment_id[:6]} {msg.auto_rerun.interval:g}")
        elif kind == "stop_auto_rerun":
            self._note(f"< stop_auto_rerun {[f[:6] for f in msg.stop_auto_rerun.fragment_ids]}")
        elif kind == "script_finished":
            self._note(f"< script_finished {msg.script_finished}")
        if kind == "new_session":
            self.running = True
            if not msg.metadata.run.fragment_ids:  # a full run: the frontend drops its auto-rerun timers
                self._stop_timers()
                self.buttons.clear()
        elif kind == "navigation":
            self.page_hash = msg.navigation.page_script_hash
            self.navs.append((time.monotonic(), [p.page_name for p in msg.navigation.app_pages]))
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string  # st.query_params wrote the URL
        elif kind == "auto_rerun":
            self._start_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self._stop_timer(fid)
        elif kind == "script_finished":
            self.running = False
            self.full_done += msg.script_finished == FINISHED_OK
            self.fragment_runs += msg.script_finished == FINISHED_FRAGMENT
        elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
            e = msg.session_event.script_compilation_exception
            self.errors.append(f"{self.name}: compile error {e.type}: {e.message[:200]}")
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element)

    def _element(self, el) -> None:
        kind = el.WhichOneof("type")
        if kind == "button":
            self.buttons[el.button.label] = (el.button.id, el.button.disabled)
        elif kind == "progress":
            self.progress = el.progress.text
            if self.first_step_at is None and progress_steps(self.progress)[0] > 0:
                self.first_step_at = time.monotonic()
        elif kind == "exception":
            self.errors.append(f"{self.name}: exception {el.exception.type}: {el.exception.message[:200]}")
        elif kind == "alert" and el.alert.format == 1:  # Alert.ERROR: st.error
            self.errors.append(f"{self.name}: st.error: {el.alert.body[:200]}")
        elif kind == "alert" and el.alert.format == 3:  # Alert.INFO: the app's notices
            self.notices.add(el.alert.body)

    # ----- the frontend's auto-rerun timers (setInterval) -----
    def _start_timer(self, fragment_id: str, interval: float) -> None:
        if not fragment_id or (fragment_id in self.timers and self.timers[fragment_id][0] == interval):
            return  # the frontend ignores a repeat of the same interval
        self._stop_timer(fragment_id)
        self.timers[fragment_id] = (interval, asyncio.create_task(self._tick(fragment_id, interval)))

    def _stop_timer(self, fragment_id: str) -> None:
        timer = self.timers.pop(fragment_id, None)
        if timer is not None:
            timer[1].cancel()

    def _stop_timers(self) -> None:
        for fid in list(self.timers):
            self._stop_timer(fid)

    async def _tick(self, fragment_id: str, interval: float) -> None:
        # Like setInterval: one rerun per tick whether or not the last one was answered (the
        # server coalesces), and missed ticks are not caught up.
        nxt = time.monotonic() + interval
        while not self.closing:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            nxt = max(nxt + interval, time.monotonic())
            self.polls += 1
            try:
                await self.rerun(fragment_id=fragment_id, auto=True)
            except Exception:
                return

    # ----- waiting -----
    async def wait(self, pred: Callable[[], bool], deadline: float, what: str) -> None:
        """Return once `pred()` holds; raise TimeoutError (naming `what`) at `deadline` or on a closed socket."""
        while True:
            self._changed.clear()
            if pred():
                return
            left = deadline - time.monotonic()
            if left <= 0 or self.closing:
                raise TimeoutError(
                    f"{self.name}: {what} ({'closed' if self.closing else 'timed out'}; {self.describe()})"
                )
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    def usable(self) -> bool:
        """Return True once a full run finished with an enabled Start button."""
        return self.full_done > 0 and not self.running and not self.buttons.get("Start", ("", True))[1]

    def settled(self) -> bool:
        """Return True when the progress shows a final status, no run is in progress and nothing polls."""
        # (The last run may be a fragment run: a poll sent just before the final full rerun is answered after it.)
        return bool(FINAL_RE.search(self.progress)) and not self.running and not self.timers

    def describe(self) -> str:
        """Return what the tab shows now, for a timeout message."""
        return (
            f"progress {self.progress!r}, {'a run in progress' if self.running else 'no run in progress'}, "
            f"{len(self.timers)} polling timers, {self.fragment_runs} fragment runs for {self.polls} polls"
            + (f", first error {self.errors[0]}" if self.errors else "")
            + f"; last messages (s since open, > sent, < received): {' | '.join(self.trace)}"
        )


async def load_page(url: str, query: str, name: str) -> tuple[Tab, float]:
    """Open a tab on `query`; return (tab, seconds from opening the websocket until it is usable)."""
    tab = Tab(url, query, name)
    t0 = time.monotonic()
    try:
        await tab.open()
        await tab.wait(tab.usable, t0 + LOAD_TIMEOUT_S, "page load")
    except BaseException:
        await tab.close()
        raise
    return tab, time.monotonic() - t0


async def student(
    url: str, query: str, name: str, steps: int, loaded: "list[str] | None" = None, timeout: float = SESSION_TIMEOUT_S
) -> dict:
    """One classroom tab: open, press Start, poll until the run is over (`timeout` s at most); return what it saw.

    Its name goes into `loaded` once its page is usable.
    """
    out: dict = {"name": name, "query": query, "done": False, "errors": [], "stuck": None}
    t0 = time.monotonic()
    t1 = 0.0
    tab = None
    try:
        try:
            tab, out["load_s"] = await load_page(url, query, name)
        finally:  # also a tab that never got its page: the probes must not wait for it
            if loaded is not None:
                loaded.append(name)
        t1 = time.monotonic()
        deadline = t1 + timeout
        await tab.click("Start")
        await tab.wait(lambda: bool(FINAL_RE.search(tab.progress)), deadline, "no final status")
        out["final_s"] = time.monotonic() - t1
        await tab.wait(tab.settled, max(deadline, time.monotonic() + SETTLE_S), "still polling after the run ended")
        out["done"], out["done_s"] = True, time.monotonic() - t1
    except Exception as e:
        out["stuck"] = f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        if tab is not None:
            out["progress"] = tab.progress
            out["steps_total"] = progress_steps(tab.progress)[1]
            if out["steps_total"] not in (None, steps):
                tab.errors.append(f"{name}: progress says {out['steps_total']} steps, the link said {steps}")
            out["errors"] = tab.errors
            # Whose training this tab watched, from the app's own notices; "trained" = a job of its own.
            out["role"] = (
                "shared"
                if any(SHARED_NOTICE in n for n in tab.notices)
                else "cached"
                if any(CACHED_NOTICE in n for n in tab.notices)
                else "trained"
                if tab.progress
                else None
            )
            out["first_step_s"] = tab.first_step_at - t1 if tab.first_step_at and t1 else None
            out.update(polls=tab.polls, fragment_runs=tab.fragment_runs, bytes=tab.bytes, tab=tab)
            if not out["done"]:
                out["trace"] = list(tab.trace)
        out["total_s"] = time.monotonic() - t0
    return out


def progress_steps(text: str) -> tuple[int, int | None]:
    """Return (step, total) from the Live lab's progress text "Step N of M ...", or (0, None)."""
    m = STEP_RE.search(text)
    return (int(m[1].replace(",", "")), int(m[2].replace(",", ""))) if m else (0, None)


def preset_link(steps: int, pace: str = PACE) -> str:
    """Return the teacher's preset query string: `steps` steps at `pace` (left out at the page's default)."""
    from vizcore.engine.params import VIEW_CHOICES, VIEW_DEFAULTS

    if pace not in VIEW_CHOICES["pace"]:
        raise ValueError(f"pace: {pace!r} is not one of the Live lab's paces; valid: {', '.join(VIEW_CHOICES['pace'])}")
    return PRESET.format(steps=steps) + ("" if pace == VIEW_DEFAULTS["pace"] else f"&pace={pace}")


def session_timeout(steps: int, pace: str) -> float:
    """Return how long a tab may take from its click to done: SESSION_TIMEOUT_S beyond twice the paced time."""
    return SESSION_TIMEOUT_S + (0.0 if pace == "max" else 2 * steps / float(pace))


async def classroom(
    url: str, sessions: int, steps: int, on_class: "Callable[[], None] | None" = None, pace: str = PACE
) -> dict:
    """Probe the idle server, then run the classroom while probing new sessions; return the raw numbers.

    `on_class()`, if given, is called just before the class arrives (bench.spy starts recording there);
    `out["class_at"]` and `out["left_at"]` are when the class arrived and when its last tab closed.
    """
    preset = preset_link(steps, pace)
    queries = class_links(sessions, steps, pace)
    out: dict = {
        "sessions": sessions,
        "steps": steps,
        "pace": pace,
        "distinct": len(set(queries)),
        "probe_errors": [],
    }
    # The teacher opens the link first: that page pays the imports and starts the server's warm-up
    # (vizcore.warmup), and the class arrives a little later. Then the idle baseline.
    tab, out["cold_load_s"] = await load_page(url, preset, "warm-up")
    await tab.close()
    await asyncio.sleep(TEACHER_HEAD_START_S)
    idle = []
    for i in range(IDLE_PROBES):
        tab, dt = await load_page(url, preset, f"idle probe {i}")
        idle.append(dt)
        await tab.close()
    out["idle_s"] = idle

    if on_class is not None:
        on_class()
    t0 = out["class_at"] = time.monotonic()
    loaded: list[str] = []  # names of the tabs whose page is usable
    tasks = start_class(url, sessions, steps, pace, "tab", loaded)
    probes: list[float | None] = []  # None: the page did not become usable within LOAD_TIMEOUT_S
    # Latecomers: the probes start once every tab of the class has its page (those 20 simultaneous
    # page loads are the sessions row's "page load" numbers), and go on while the class trains.
    while not all(t.done() for t in tasks) and len(loaded) < sessions:
        await asyncio.sleep(0.05)
    out["herd_s"] = time.monotonic() - t0
    nxt = time.monotonic()
    while not all(t.done() for t in tasks):
        # A fresh tab every PROBE_EVERY_S while the classroom runs, one at a time.
        await asyncio.wait(tasks, timeout=max(0.0, nxt - time.monotonic()))
        if all(t.done() for t in tasks):
            break
        nxt = time.monotonic() + PROBE_EVERY_S
        name = f"probe {len(probes)}"
        try:
            tab, dt = await load_page(url, preset, name)
            probes.append(dt)
            out["probe_errors"] += tab.errors
            await tab.close()
        except TimeoutError as e:
            probes.append(None)
            out["probe_stuck"] = f"{name}: {e}"
        except Exception as e:
            out["probe_errors"].append(f"{name}: {type(e).__name__}: {str(e)[:200]}")
    results = [t.result() for t in tasks]
    out["wall_s"] = time.monotonic() - t0
    out["probes_s"] = probes
    await leave(results)  # the tabs stay open until everyone is done, as in a classroom
    out["left_at"] = time.monotonic()
    out["tabs"] = results
    return out


def class_links(sessions: int, steps: int, pace: str) -> list[str]:
    """Return each tab's query string: half the teacher's preset, the others each with a seed of its own."""
    preset = preset_link(steps, pace)
    return [preset if i < sessions // 2 else f"{preset}&seed={i}" for i in range(sessions)]


def start_class(
    url: str, sessions: int, steps: int, pace: str, name: str, loaded: "list[str] | None" = None
) -> "list[asyncio.Task]":
    """Start the class: one tab per `class_links` link, each pressing Start; return their tasks."""
    timeout = session_timeout(steps, pace)
    links = class_links(sessions, steps, pace)
    return [asyncio.create_task(student(url, q, f"{name} {i}", steps, loaded, timeout)) for i, q in enumerate(links)]


async def leave(tabs: "list[dict]") -> None:
    """Close every tab the class still has open (what `student` returned)."""
    await asyncio.gather(*(t.pop("tab").close() for t in tabs if "tab" in t))


async def class_again(url: str, sessions: int, steps: int, pace: str) -> dict:
    """The same class once more (no probes): every tab opens its link and presses Start; return what they saw."""
    t0 = time.monotonic()
    tabs = await asyncio.gather(*start_class(url, sessions, steps, pace, "again"))
    await leave(tabs)
    return {
        "class_at": t0,
        "left_at": time.monotonic(),
        "finished": sum(t["done"] for t in tabs),
        "errors": [e for t in tabs for e in t["errors"]],
    }


@contextmanager
def _server_env() -> Iterator[None]:
    """Set SERVER_ENV in os.environ (start_server passes it on) and restore it after."""
    saved = {k: os.environ.get(k) for k in SERVER_ENV}
    os.environ.update(SERVER_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _drain(stream, events: list[str]) -> None:
    """Read the server's stderr to its end; append each warning, error and traceback's last line to `events`."""
    # start_server pipes stderr: reading it all along also keeps a chatty server from blocking on a full pipe.
    in_traceback = False
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace() and not line.startswith("During handling"):
            events.append(line[:300])  # the exception that ended the traceback
            in_traceback = False
        elif any(w in line for w in (" WARNING ", " ERROR ", " CRITICAL ")):
            events.append(line[:300])


def descendants(pid: int) -> list[int]:
    """Return the ids of every process below `pid` (children, their children, ...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    found, frontier = [], [pid]
    while frontier:
        kids = [c for c, p in parents.items() if p in frontier]
        found += kids
        frontier = kids
    return found


def stop_tree(proc) -> None:
    """Stop the server and then any process it started that outlived it (a sweep pool's or warm-up's workers)."""
    kids = descendants(proc.pid)
    stop_server(proc)
    for pid in kids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _proc_status(pid: int, key: str) -> int | None:
    """Return the kB value of `key` (e.g. VmHWM) in /proc/<pid>/status, or None."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Sampler:
    """The server's RSS (kB) and thread count, read from /proc every RSS_EVERY_S by a daemon thread."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[tuple[float, int, int]] = []  # (monotonic time, VmRSS kB, threads)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> "Sampler":
        """Start sampling; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(RSS_EVERY_S)

    def sample(self) -> "tuple[float, int, int] | None":
        """Read the server's RSS and threads now, keep and return them (None once the process is gone)."""
        rss, threads = _proc_status(self.pid, "VmRSS"), _proc_status(self.pid, "Threads")
        if rss is None or threads is None:
            return None
        s = (time.monotonic(), rss, threads)
        self.samples.append(s)
        return s

    def at(self, t: float) -> tuple[float, int, int]:
        """Return the last sample taken at or before `t` (the first one if none was)."""
        before = [s for s in self.samples if s[0] <= t]
        return before[-1] if before else self.samples[0]

    def peak_kb(self, t0: float, t1: float) -> int:
        """Return the highest RSS sampled between `t0` and `t1`."""
        return max((s[1] for s in self.samples if t0 <= s[0] <= t1), default=0)


def wait_settled(sampler: Sampler, start: float) -> tuple[float, int, int]:
    """Return the latest sample once the RSS stayed within 1% for SETTLED_FOR_S (or LEAVE_WAIT_S after `start`)."""
    while True:
        last = sampler.samples[-1]
        recent = [s[1] for s in sampler.samples if s[0] >= last[0] - SETTLED_FOR_S]
        steady = last[0] - start >= SETTLED_FOR_S and max(recent) - min(recent) <= last[1] / 100
        if steady or last[0] - start > LEAVE_WAIT_S:
            return last
        time.sleep(RSS_EVERY_S)


def measure(
    sessions: int = 20, steps: int = 1500, profile: str | None = None, pace: str = PACE, classes: int = 1
) -> dict:
    """Start a server, run the classroom on it (`classes` times); return the raw numbers (see the module docstring).

    Each class after the first is the same class again, for the memory row: after it, is the
    server's memory where the first class left it (reused), or higher (kept)?

    With `profile` (a file path), py-spy records the server from the class's arrival to its end
    (collapsed stacks in that file) and `out["profile"]` holds bench.spy.gil_split of them.
    """
    from . import spy
    from .sweeps import _cpu_s, load_average

    out: dict = {"load_before": load_average()}
    log: list[str] = []  # the server's warnings and exceptions
    with tempfile.TemporaryDirectory() as runs, _server_env():
        t = time.monotonic()
        url, proc = start_server(Path(runs), extra=["--server.disconnectedSessionTTL", str(LEAVE_TTL_S)])
        out["server_start_s"] = time.monotonic() - t
        drain = threading.Thread(target=_drain, args=(proc.stderr, log), daemon=True)
        drain.start()
        sampler = Sampler(proc.pid).start()
        spies: list = []

        def start_spy() -> None:
            # The memory baseline: once the warm-up's imports are in (under load they take longer than the head start).
            t = time.monotonic()
            wait_settled(sampler, t)
            out["warm_wait_s"] = time.monotonic() - t
            if profile:
                spies.append(spy.record(proc.pid, PROFILE_MAX_S, profile))

        try:
            cpu0 = _cpu_s([proc.pid])
            out.update(asyncio.run(classroom(url, sessions, steps, start_spy, pace)))
            if spies and spies[0] is not None:
                spies[0].send_signal(signal.SIGINT)  # py-spy writes what it has and exits
                spies[0].wait(30)
                out["profile"] = spy.gil_split(Path(profile).read_text())
            elif profile:
                out["profile_error"] = "py-spy not found (pip install -r requirements-dev.txt)"
            out["server_cpu_s"] = _cpu_s([proc.pid]) - cpu0
            out["peak_rss_mb"] = (_proc_status(proc.pid, "VmHWM") or 0) / 1024
            out["run_files"] = sorted(p.name for p in Path(runs).glob("*.json"))
            # Everyone has left: once Streamlit releases their sessions the memory they held should go.
            time.sleep(LEAVE_TTL_S + 2)
            after = wait_settled(sampler, time.monotonic())
            base = sampler.at(out["class_at"])
            out["memory"] = {
                "baseline_mb": base[1] / 1024,
                "peak_mb": sampler.peak_kb(out["class_at"], out["left_at"]) / 1024,
                "after_mb": after[1] / 1024,
                "after_s": after[0] - out["left_at"],
                "threads": [base[2], max(s[2] for s in sampler.samples), after[2]],
                "ttl_s": LEAVE_TTL_S,
                "trace": [(round(s[0] - out["class_at"], 1), s[1] // 1024, s[2]) for s in sampler.samples[::4]],
                "again": [],
            }
            for _ in range(classes - 1):
                again = asyncio.run(class_again(url, sessions, steps, pace))
                time.sleep(LEAVE_TTL_S + 2)
                again["after_mb"] = wait_settled(sampler, time.monotonic())[1] / 1024
                again["peak_mb"] = sampler.peak_kb(again["class_at"], again["left_at"]) / 1024
                out["memory"]["again"].append(again)
        finally:
            sampler.stop()
            stop_tree(proc)
            drain.join(5)
    out["server_log"] = log
    out["load_after"] = load_average()
    return out


def _fmt_s(values: "list[float]") -> tuple[float, float]:
    """Return (median, max) of `values`, nan for none."""
    return (statistics.median(values), max(values)) if values else (float("nan"), float("nan"))


def run(
    sessions: int = 30, steps: int = 1500, profile: str | None = None, pace: str = PACE, classes: int = 1
) -> list[Row]:
    """Run the classroom benchmark; return the classroom rows ("failed: ..." rows on error)."""
    try:
        d = measure(sessions, steps, profile, pace, classes)
    except Exception as e:
        return [Row(n, f"failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}") for n in NAMES]
    tabs = d["tabs"]
    errors = [e for t in tabs for e in t["errors"]] + d["probe_errors"]
    done = sum(t["done"] for t in tabs)
    stuck = [f"{t['name']}: {t['stuck']}" for t in tabs if t["stuck"]]
    roles = [t.get("role") for t in tabs]
    trained, shared, cached = roles.count("trained"), roles.count("shared"), roles.count("cached")
    d.update(errors=errors, finished=done, trained=trained, shared=shared, cached=cached)
    fin_med, fin_max = _fmt_s([t["done_s"] for t in tabs if t["done"]])
    load_med, load_max = _fmt_s([t["load_s"] for t in tabs if "load_s" in t])
    polls, answered = sum(t.get("polls", 0) for t in tabs), sum(t.get("fragment_runs", 0) for t in tabs)
    probes = [p for p in d["probes_s"] if p is not None]
    timeouts = len(d["probes_s"]) - len(probes)
    med, mx = _fmt_s(probes)
    idle = statistics.median(d["idle_s"])
    log = d["server_log"]
    notes = [
        f"{len(tabs)} protocol-level tabs press Start together ({sessions // 2} on one preset, {steps} steps at "
        f"{'full speed' if d['pace'] == 'max' else d['pace'] + ' steps/s'}, each beside its twin); "
        f"{shared} watched another tab's run, {cached} got a saved one",
        f"page load {load_med:.1f} s median (max {load_max:.1f} s); click -> done {fin_med:.1f} s median "
        f"(max {fin_max:.1f} s); wall {d['wall_s']:.1f} s",
        f"{answered} fragment runs answered {polls} fragment polls",
        f"server peak RSS {d['peak_rss_mb']:.0f} MB, {d['server_cpu_s']:.0f} CPU s",
        f"load avg {d['load_before']} -> {d['load_after']} on {os.cpu_count()} cpus",
    ]
    if errors:
        notes.append(f"first error: {errors[0]}")
    if stuck:
        notes.append(f"first unfinished: {stuck[0]}")
    if log:
        notes.append(f"server log: {len(log)} warnings/tracebacks, first: {log[0]}")
    late = f", {timeouts} of {len(d['probes_s'])} not usable within {LOAD_TIMEOUT_S:g} s" if timeouts else ""
    return [
        Row(
            NAMES[0],
            f"{done}/{len(tabs)} finished, {len(errors)} errors, {trained} trainings started for "
            f"{d['distinct']} distinct configs, {len(d['run_files'])} run files",
            None,
            "all finish, 0 errors, each config once",
            "; ".join(notes),
            d,
        ),
        Row(
            NAMES[1],
            f"{med:.2f} s median (max {mx:.2f} s{late}) while {len(tabs)} sessions train; idle {idle:.2f} s",
            med / 2.0,
            "< 2 s",
            f"fresh tab: open websocket -> first full run finished with Start enabled; {len(d['probes_s'])} probes, "
            f"one every {PROBE_EVERY_S:g} s during the load (idle: median of {len(d['idle_s'])} after a warm-up; "
            f"first page on the fresh server {d['cold_load_s']:.2f} s); ratio = median / aim",
            {k: d.get(k) for k in ("probes_s", "idle_s", "cold_load_s", "probe_errors", "probe_stuck")},
        ),
        memory_row(d["memory"]),
    ]


def memory_row(m: dict) -> Row:
    """Return the memory row: the server's RSS before the class, at its peak, and after everyone left."""
    grown = m["peak_mb"] - m["baseline_mb"]
    kept = (m["after_mb"] - m["baseline_mb"]) / grown if grown > 0 else float("nan")
    again = "".join(
        f"; class {k}: {a['peak_mb']:.0f} MB peak, {a['after_mb']:.0f} MB after "
        f"({a['after_mb'] / m['baseline_mb']:.2f}x, "
        f"{a['finished']} finished, {len(a['errors'])} errors)"
        for k, a in enumerate(m.get("again", ()), start=2)
    )
    return Row(
        NAMES[2],
        f"RSS {m['baseline_mb']:.0f} MB before, {m['peak_mb']:.0f} MB peak, {m['after_mb']:.0f} MB after the "
        f"class left ({m['after_mb'] / m['baseline_mb']:.2f}x before){again}",
        m["after_mb"] / m["baseline_mb"],
        f"<= {MEMORY_AIM:g}x",
        f"the server's VmRSS from /proc every {RSS_EVERY_S:g} s: before = as the class arrives, once the "
        f"warm server's RSS was steady for {SETTLED_FOR_S:g} s, "
        f"after = once it is steady, {m['after_s']:.0f} s after the last tab closed (sessions released after "
        f"{m['ttl_s']} s, server.disconnectedSessionTTL); {100 * kept:.0f}% of the growth kept; threads "
        f"{m['threads'][0]} -> {m['threads'][1]} -> {m['threads'][2]}; ratio = after / before",
        m,
    )


def main(argv: "list[str] | None" = None) -> int:
    """`python -m bench.classroom [--sessions N] [--steps N] [--pace P] [--classes N] [--profile FILE]`: print rows.

    Returns 0.
    """
    import argparse

    from . import format_table, spy

    p = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__.splitlines()[0])
    from vizcore.engine.params import VIEW_CHOICES

    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument(
        "--pace", choices=VIEW_CHOICES["pace"], default=PACE, help="steps per second (the Live lab's pace control)"
    )
    p.add_argument(
        "--profile",
        metavar="FILE",
        help="record the server with py-spy (GIL holders) into FILE and print where its GIL time went",
    )
    p.add_argument(
        "--classes",
        type=int,
        default=1,
        help="run the same class this many times, one after the other (memory after each; 1: once)",
    )
    args = p.parse_args(argv)
    if args.classes < 1:
        p.error(f"--classes must be 1 or more, got {args.classes}")
    rows = run(args.sessions, args.steps, args.profile, args.pace, args.classes)
    print(format_table(rows))
    data = rows[0].data or {}
    if args.profile:
        print(spy.format_split(data["profile"]) if "profile" in data else data.get("profile_error", "no profile"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
