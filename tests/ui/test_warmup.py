"""After a class leaves, its closed sessions are dropped when their time is up, not at the next visitor."""

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
from streamlit.runtime import Runtime
from streamlit.runtime.fragment import FragmentStorageKeyError
from streamlit.runtime.memory_session_storage import MemorySessionStorage
from streamlit.runtime.state.common import WidgetMetadata
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

from vizcore.ui.warmup import _forget_closed_sessions


def _loop_in_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return loop, thread


def test_expired_sessions_are_dropped_on_the_event_loop():
    storage = MemorySessionStorage(ttl_seconds=1)
    for k in range(3):  # closed tabs, as WebsocketSessionManager.disconnect_session saves them
        storage.save(SimpleNamespace(session=SimpleNamespace(id=f"s{k}")))
    loop, thread = _loop_in_thread()
    runtime = SimpleNamespace(
        _session_mgr=SimpleNamespace(_session_storage=storage),
        _get_async_objs=lambda: SimpleNamespace(eventloop=loop),
    )
    try:
        assert _forget_closed_sessions(runtime) is False  # their time is not up: kept
        assert len(storage._cache._data) == 3
        time.sleep(1.1)
        assert len(storage._cache._data) == 3  # expired, but Streamlit's cache keeps them until a write
        assert _forget_closed_sessions(runtime) is True
        assert len(storage._cache._data) == 0 and storage.list() == []
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_the_streamlit_internals_it_reaches_exist():
    # pinned streamlit: the names _forget_closed_sessions uses
    assert callable(Runtime._get_async_objs) and hasattr(MemorySessionStorage(), "_cache")
    storage = MemorySessionStorage()
    mgr = WebsocketSessionManager(
        storage, uploaded_file_manager=None, script_cache=None, message_enqueued_callback=None
    )
    assert mgr._session_storage is storage
    from streamlit.runtime.state import SessionState

    assert SessionState()._new_widget_state.widget_metadata == {}
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    assert isinstance(Runtime.media_file_mgr, property)
    assert MediaFileManager(MemoryMediaFileStorage("/media"))._deferred_callables == {}
    assert not Runtime.exists() and _forget_closed_sessions() is False  # no server in this process: nothing to do


def test_a_runtime_without_a_session_storage_is_left_alone():
    assert _forget_closed_sessions(SimpleNamespace()) is False  # AppTest's mock runtime has no session manager
    assert _forget_closed_sessions(SimpleNamespace(_session_mgr=SimpleNamespace())) is False


def test_a_closed_sessions_download_data_is_let_go():
    # A download button's deferred data holds the whole run; Streamlit drops it only when a later script
    # run ends. With the class gone there is none: the expiry drops it.
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files = MediaFileManager(MemoryMediaFileStorage("/media"))
    run = {"layers": [[0.5] * 1000]}
    files.add_deferred(lambda: str(run), "text/csv", "coords-1", "run.csv")
    assert len(files._deferred_callables) == 1
    loop, thread = _loop_in_thread()
    runtime = SimpleNamespace(
        _session_mgr=SimpleNamespace(_session_storage=MemorySessionStorage(ttl_seconds=60)),
        _get_async_objs=lambda: SimpleNamespace(eventloop=loop),
        media_file_mgr=files,
    )
    try:
        assert _forget_closed_sessions(runtime) is False  # its session is still there: kept
        assert len(files._deferred_callables) == 1
        files.clear_session_refs()  # the session ended (AppSession.shutdown does this)
        assert _forget_closed_sessions(runtime) is True
        assert files._deferred_callables == {}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


class _ClosedSession:
    """What the expiry touches of a closed tab's AppSession: Streamlit's own state and fragment storage."""

    def __init__(self, sid: str):
        from streamlit.runtime.fragment import MemoryFragmentStorage
        from streamlit.runtime.state import SessionState

        self.id = sid
        self.session_state = SessionState()
        self._fragment_storage = MemoryFragmentStorage()
        self.shut_down = False

    def shutdown(self) -> None:
        self.shut_down = True


def test_an_expired_session_is_shut_down_and_emptied():
    # Streamlit's runtime loop can keep the last session it flushed referenced after it expired: then its
    # state must hold nothing (no jobs, runs or figures), whoever keeps the session itself.
    storage = MemorySessionStorage(ttl_seconds=1)
    closed = _ClosedSession("gone")
    closed.session_state["job"] = {"layers": [[0.5] * 1000]}
    closed._fragment_storage.register("f1", lambda: None)
    run = {"layers": [[0.5] * 1000]}
    widget = WidgetMetadata("w1", lambda v: v, lambda v: v, "int_value", callback=lambda: run)
    closed.session_state._new_widget_state.set_widget_metadata(widget)
    storage.save(SimpleNamespace(session=closed))
    loop, thread = _loop_in_thread()
    runtime = SimpleNamespace(
        _session_mgr=SimpleNamespace(_session_storage=storage),
        _get_async_objs=lambda: SimpleNamespace(eventloop=loop),
    )
    try:
        assert _forget_closed_sessions(runtime) is False  # its time is not up: the tab may still come back
        assert not closed.shut_down and "job" in closed.session_state and closed._fragment_storage.lookup("f1")
        assert "w1" in closed.session_state._new_widget_state.widget_metadata
        time.sleep(1.1)
        assert _forget_closed_sessions(runtime) is True
        assert closed.shut_down and "job" not in closed.session_state
        assert closed.session_state._new_widget_state.widget_metadata == {}  # its callbacks held runs
        with pytest.raises(FragmentStorageKeyError):
            closed._fragment_storage.lookup("f1")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
