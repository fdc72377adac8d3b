"""simgan.turing.server through a real socket (urllib): routes, answers, refusals, restart, serve_study."""

from __future__ import annotations

import json
import socket
import threading
from http.client import HTTPConnection
from pathlib import Path

import pytest
from turing_fixtures import http, which_image

from simgan.atomic import FolderLock
from simgan.errors import InputError
from simgan.turing import Study, TuringServer, serve_study
from simgan.turing.records import ANSWERS, TRIALS

Served = tuple[TuringServer, Study]


def _state(server: TuringServer) -> dict:
    status, _, body = http(server.url + "state")
    assert status == 200
    return json.loads(body)


def test_the_page_shows_the_keys_and_the_progress(served: Served) -> None:
    server, _ = served
    status, headers, body = http(server.url)
    page = body.decode()
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    for text in (
        'id="progress"',
        'id="real"',
        'id="refined"',
        "<kbd>R</kbd>",
        "<kbd>F</kbd>",
        "<kbd>1</kbd>",
    ):
        assert text in page
    assert "ArrowLeft" in page and "ArrowRight" in page


def test_state_and_images_by_token(served: Served) -> None:
    server, study = served
    state = _state(server)
    first = study.trials[0]
    assert state == {
        "total": 6,
        "answered": 0,
        "token": first.token,
        "height": 8,
        "width": 8,
        "results": None,
    }
    for t in study.trials:
        status, headers, png = http(server.url + "image/" + t.token)
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert which_image(png) == (t.truth, t.index)
        assert "Content-Disposition" not in headers  # no file name travels with the image
    assert http(server.url + "image/" + first.token[:-1] + "x")[0] == 404
    assert http(server.url + "image/" + first.id)[0] == 404
    assert http(server.url + "nothing")[0] == 404


def test_an_answer_is_on_disk_before_the_reply(served: Served) -> None:
    server, study = served
    first, second = study.trials[:2]
    status, _, body = http(server.url + "answer", {"token": first.token, "answer": "refined", "ms": 512})
    assert status == 200 and json.loads(body)["token"] == second.token and json.loads(body)["answered"] == 1
    lines = (study.folder / ANSWERS).read_text().splitlines()
    assert (
        len(lines) == 1 and json.loads(lines[0])["answer"] == "refined" and json.loads(lines[0])["ms"] == 512
    )
    # the same answer again (a double click, a second tab): refused, nothing written, the state to resync
    status, _, body = http(server.url + "answer", {"token": first.token, "answer": "real"})
    assert status == 409 and json.loads(body)["token"] == second.token
    assert len((study.folder / ANSWERS).read_text().splitlines()) == 1


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"body": {"token": "x"}}, 400),
        ({"body": {"answer": "real"}}, 400),
        ({"body": ["real"]}, 400),
        ({"raw": b"{not json"}, 400),
        ({"body": {"token": "T", "answer": "maybe"}}, 400),
        ({"body": {"token": "T", "answer": "real"}, "content_type": "text/plain"}, 415),
        ({"raw": b"x" * 5000}, 400),
    ],
)
def test_malformed_answers_are_refused_and_not_recorded(served: Served, kwargs: dict, status: int) -> None:
    server, study = served
    if isinstance(kwargs.get("body"), dict) and kwargs["body"].get("token") == "T":
        kwargs = {**kwargs, "body": {**kwargs["body"], "token": study.trials[0].token}}
    assert http(server.url + "answer", **kwargs)[0] == status
    assert not (study.folder / ANSWERS).exists()


def test_a_request_for_another_host_is_refused(served: Served) -> None:
    server, _ = served
    conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/state", headers={"Host": f"attacker.example:{server.port}"})
        assert conn.getresponse().status == 403
    finally:
        conn.close()
    conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/state", headers={"Host": f"localhost:{server.port}"})
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_a_restarted_server_resumes_the_same_study(pair: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    study = Study.open(*pair, run, n=2, seed=5)
    study.save()
    with TuringServer(study, port=0).start() as server:
        assert http(server.url + "answer", {"token": study.trials[0].token, "answer": "real"})[0] == 200
    again = Study.open(*pair, run, n=2, seed=5)
    with TuringServer(again, port=0).start() as server:
        state = _state(server)
        assert state["answered"] == 1 and state["token"] == study.trials[1].token
        for t in again.trials[1:]:
            status, _, body = http(server.url + "answer", {"token": t.token, "answer": "refined"})
            assert status == 200
        results = json.loads(body)["results"]
    correct = sum(t.truth == "refined" for t in study.trials[1:]) + (study.trials[0].truth == "real")
    assert results["answered"] == 4 and results["correct"] == correct
    assert json.loads((run / "metrics.json").read_text()) == results


def test_a_port_in_use_is_refused(served: Served) -> None:
    server, study = served
    with pytest.raises(InputError, match=rf"--port {server.port}: already in use \(choose another --port"):
        TuringServer(study, port=server.port)
    with pytest.raises(InputError, match="--port 70000: must lie in 0..65535"):
        TuringServer(study, port=70000)


def test_serve_study_holds_the_folder_until_stopped(pair: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    ready = threading.Event()
    servers: list[TuringServer] = []

    def on_ready(server: TuringServer, study: Study) -> None:
        servers.append(server)
        ready.set()

    result: list[Study] = []
    thread = threading.Thread(
        target=lambda: result.append(serve_study(*pair, run, n=2, seed=0, port=0, on_ready=on_ready))
    )
    thread.start()
    try:
        assert ready.wait(30)
        assert (run / TRIALS).is_file()  # saved before the address was given out
        with pytest.raises(InputError, match="another simgan process"):
            FolderLock(run).acquire()
        token = _state(servers[0])["token"]
        assert http(servers[0].url + "answer", {"token": token, "answer": "real"})[0] == 200
    finally:
        if servers:
            servers[0].httpd.shutdown()
        thread.join(30)
    assert result and result[0].answered == 1
    with FolderLock(run):  # released
        pass


def test_a_refused_port_leaves_no_study_folder(pair: tuple[Path, Path], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match="already in use"):
            serve_study(*pair, tmp_path / "run", n=2, port=port)
    assert not (tmp_path / "run").exists()
