"""Open a report in headless Chromium and check it as a person would see it.

Talks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4,
NUL-separated JSON), so no WebDriver, websocket library or downloaded browser is needed: Debian's
``chromium`` package is enough. Used by the tests and to make the README screenshot::

    python -m tests.support.browser report/index.html --screenshot docs/report_screenshot.png
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PageCheck", "check_page", "find_chromium"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags for a closed network and a root user in a container (see the machine notes).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
    "--hide-scrollbars",
)

# What a person would check on the page: counts of the things they look at and listen to.
_PROBE = """(async () => {
  const audios = [...document.querySelectorAll('audio')];
  await Promise.all(audios.map(a => a.readyState >= 1 ? null : new Promise(resolve => {
      a.addEventListener('loadedmetadata', resolve, {once: true});
      a.addEventListener('error', resolve, {once: true});
      a.load();
      setTimeout(resolve, 5000);
  })));
  const images = [...document.images];
  await Promise.all(images.map(i => i.decode().catch(() => null)));
  const visible = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  return {
    title: document.title,
    audio: audios.length,
    audio_playable: audios.filter(a => a.duration > 0 && !a.error).length,
    audio_seconds: audios.map(a => a.duration),
    scores: [...document.querySelectorAll('figure.score > svg')].filter(visible).length,
    piano_rolls: [...document.querySelectorAll('img.piano-roll')]
        .filter(i => i.naturalWidth > 0 && visible(i)).length,
    broken_images: images.filter(i => !(i.naturalWidth > 0)).length,
    tables: document.querySelectorAll('table').length,
    table1_rows: document.querySelectorAll('#table1 tbody tr').length,
    curves: [...document.querySelectorAll('figure.curves img')].filter(i => i.naturalWidth > 0).length,
    midi_links: document.querySelectorAll('a.midi').length,
    compositions: document.querySelectorAll('article.composition:not(.missing)').length,
    notices: [...document.querySelectorAll('.notice')].map(n => n.textContent),
    page_height: document.documentElement.scrollHeight,
  };
})()"""


@dataclass
class PageCheck:
    """What headless Chromium saw on a page."""

    counts: dict
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    """URLs the page asked for other than data: and the page itself (should stay empty)."""
    screenshot: Path | None = None


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (``$CHROMIUM`` first), or None."""
    override = os.environ.get("CHROMIUM")
    if override is not None:
        return shutil.which(override) if override else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _DevTools:
    """A minimal CDP client over the debugging pipe."""

    def __init__(self, binary: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def _place_pipes() -> None:  # in the child: Chromium expects fd 3 (in) and 4 (out)
            read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            pass_fds=(3, 4),
            preexec_fn=_place_pipes,  # noqa: PLW1509 - no threads are started before this
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(
        self, method: str, params: dict | None = None, session: str | None = None, timeout=30.0
    ) -> dict:
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, session: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        for index, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self.events.pop(index)
        while True:
            message = self.receive(deadline)
            if message.get("method") == method and message.get("sessionId") == session:
                return message
            self.events.append(message)

    def close(self) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.send("Browser.close")
            self.process.wait(timeout=10)  # a browser that will not close is killed below
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def _console_errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            errors.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
    return errors


def check_page(
    page: str | os.PathLike,
    *,
    screenshot: str | os.PathLike | None = None,
    width: int = 1400,
    height: int = 1000,
    full_page: bool = False,
    sections: list[str] | None = None,
    chromium: str | None = None,
    timeout: float = 60.0,
) -> PageCheck:
    """Load ``page`` (a file) in headless Chromium; count what is on it, collect console errors
    and outside requests, and optionally save a PNG screenshot.

    ``sections``: CSS selectors; the screenshot is then the first element matching each, stacked
    top to bottom (a compact picture of a long page, e.g. for a README).
    """
    binary = chromium or find_chromium()
    if binary is None:
        raise FileNotFoundError("Chromium is not installed (apt-get install chromium)")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="sequence-tutor-chromium-") as profile:
        tools = _DevTools(binary, profile)
        try:
            target = tools.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
            session = tools.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                tools.call(f"{domain}.enable", session=session)
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            tools.call("Page.navigate", {"url": url}, session=session)
            tools.wait_for("Page.loadEventFired", session, timeout=timeout)
            probe = tools.call(
                "Runtime.evaluate",
                {"expression": _PROBE, "awaitPromise": True, "returnByValue": True},
                session=session,
                timeout=timeout,
            )
            if "exceptionDetails" in probe:
                raise RuntimeError(f"page probe failed: {probe['exceptionDetails']}")
            counts = probe["result"]["value"]
            shot_path = None
            if screenshot is not None and sections:
                shot_path = Path(screenshot)
                _stack_sections(tools, session, sections, width, shot_path, timeout)
            elif screenshot is not None:
                params: dict = {"format": "png"}
                if full_page:
                    params["captureBeyondViewport"] = True
                    params["clip"] = {
                        "x": 0, "y": 0, "width": width, "height": counts["page_height"], "scale": 1,
                    }  # fmt: skip
                shot = tools.call(
                    "Page.captureScreenshot", params, session=session, timeout=timeout
                )
                shot_path = Path(screenshot)
                shot_path.parent.mkdir(parents=True, exist_ok=True)
                shot_path.write_bytes(base64.b64decode(shot["data"]))
            # let late events (e.g. a media decode error) arrive before reading the log
            tools.call("Runtime.evaluate", {"expression": "1"}, session=session)
        finally:
            tools.close()
    requests = [
        e["params"]["request"]["url"]
        for e in tools.events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("data:", url))
    ]
    return PageCheck(counts, _console_errors(tools.events), requests, shot_path)


def _stack_sections(
    tools: _DevTools, session: str, selectors: list[str], width: int, target: Path, timeout: float
) -> None:
    from PIL import Image

    pieces = []
    for selector in selectors:
        expression = (
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " const r = e.getBoundingClientRect();"
            " return {y: r.top + window.scrollY, height: r.height}; })()"
        )
        box = tools.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
        )["result"].get("value")
        if box is None:
            raise ValueError(f"no element matches {selector!r}")
        clip = {"x": 0, "y": box["y"], "width": width, "height": box["height"], "scale": 1}
        shot = tools.call(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
            session=session,
            timeout=timeout,
        )
        pieces.append(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))
    gap = 12  # the clipped elements lose their margins; give the stack some air back
    height = sum(p.height for p in pieces) + gap * (len(pieces) + 1)
    canvas = Image.new("RGB", (width, height), (246, 247, 249))
    y = gap
    for piece in pieces:
        canvas.paste(piece, (0, y))
        y += piece.height + gap
    target.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(target, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page")
    parser.add_argument("--screenshot")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--full-page", action="store_true")
    parser.add_argument(
        "--sections", nargs="+", metavar="SELECTOR", help="stack these elements into the screenshot"
    )
    args = parser.parse_args(argv)
    result = check_page(
        args.page,
        screenshot=args.screenshot,
        width=args.width,
        height=args.height,
        full_page=args.full_page,
        sections=args.sections,
    )
    print(json.dumps({"counts": result.counts, "console_errors": result.console_errors,
                      "requests": result.requests}, indent=1))  # fmt: skip
    return 1 if result.console_errors or result.requests else 0


if __name__ == "__main__":
    raise SystemExit(main())
