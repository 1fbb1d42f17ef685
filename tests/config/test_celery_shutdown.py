"""A stopping worker's main process reaps what killed pool children left (config/celery.py),
and a failing reap does not make the worker's stop fail."""

from config import celery


def test_the_main_process_reaps_once_its_children_are_gone(monkeypatch):
    calls = []
    monkeypatch.setattr("sandbox.reaper.reap", lambda: calls.append(1) or [])
    celery.reap_after_pool_processes()
    assert calls == [1]


def test_a_failing_reap_is_logged_not_raised(monkeypatch, caplog):
    def broken():
        raise RuntimeError("engine gone")

    monkeypatch.setattr("sandbox.reaper.reap", broken)
    celery.reap_after_pool_processes()
    assert "Reaping after the worker's processes failed." in caplog.text
