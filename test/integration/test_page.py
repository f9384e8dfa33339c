"""The preview page as a person sees it (spec §4.4): opened in a browser, it
says that a digital key is waiting, where to open the link and when the share
expires; an expired or unknown share says so. Rendered by a real headless
Chromium (Debian's `chromium`) at phone and desktop widths; without Chromium
those tests are reported as skipped. The texts are also checked over plain
HTTP, which needs no browser."""

import atexit
import base64
import fcntl
import html.parser
import json
import os
import re
import select
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import zlib

from relaytest import (default_body, delete, expect_json, expect_status, new_claim, new_mailbox,
                       preview, read, rfc3339, wait_until)

EXPECTED_SECONDS = 6
PARALLEL = True                 # each Chromium run mostly waits for its own start
# Alone, after the other modules: a starting Chromium takes both cores for
# seconds, and the modules that measure the API's latency would feel it.
EXCLUSIVE = True

CHROMIUM = shutil.which("chromium")
CHROMIUM_TIMEOUT_S = 60         # a loaded machine starts it in seconds, not minutes
PHONE = (390, 844)
DESKTOP = (1280, 800)
BACKGROUND = (0xee, 0xf0, 0xf4)   # the page's background colour (protocol/html.c)

WAITING = "A digital key is waiting for you."
WHERE = "open this link on the device that should receive it."
GONE = "This share has expired or does not exist"
# A lifetime well inside the 23rd hour, so the phrase cannot change while
# the test runs.
LIFETIME_S = 23 * 3600 + 1800
# Nothing loads from the network: the image points at a loopback port that
# refuses connections at once.
DISPLAY = {"title": "Car key for the Golf",
           "description": "Anna shares her car key with you for the weekend.",
           "imageURL": "https://127.0.0.1:1/car.png"}


class Text(html.parser.HTMLParser):
    """The body's text with whitespace collapsed, the <time> elements and
    every tag name seen."""

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.parts, self.tags, self.times, self._body = [], [], [], False
        self.feed(markup)
        self.close()
        self.text = re.sub(r"\s+", " ", "".join(self.parts)).strip()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._body = self._body or tag == "body"
        if tag == "time":
            self.times.append(dict(attrs).get("datetime"))

    def handle_data(self, data):
        if self._body:
            self.parts.append(data)


def expect_share_page(markup, phrase, what, title=DISPLAY["title"]):
    page = Text(markup)
    for want in (WAITING, WHERE, "This share expires %s." % phrase, title):
        assert want.lower() in page.text.lower(), "%s does not say %r: %r" % (what, want, page.text)
    assert "script" not in page.tags, "%s has a <script> element" % what
    assert "<script" not in markup.lower(), "%s holds '<script'" % what
    return page


def expect_gone_page(markup, what):
    page = Text(markup)
    assert page.text.startswith(GONE), "%s does not start with %r: %r" % (what, GONE, page.text)
    assert "send it again" in page.text, "%s does not say what to do: %r" % (what, page.text)
    for wrong in ("waiting", "expires"):
        assert wrong not in page.text, "%s says %r: %r" % (what, wrong, page.text)
    assert "script" not in page.tags, "%s has a <script> element" % what


# ---------------------------------------------------------------- over HTTP

def test_page_says_what_to_do(relay):
    mb = new_mailbox(relay, body=default_body(displayInformation=DISPLAY), expires_in_s=LIFETIME_S)
    resp = preview(relay, mb.id)
    expect_status(resp, 200, "preview")
    markup = resp.body.decode("utf-8")
    page = expect_share_page(markup, "in 23 hours", "the preview page")
    # The instant in <time> is the mailbox's own expiration.
    expiration = expect_json(read(relay, mb.id, mb.sender), 200)["expiration"]
    assert page.times == [expiration], "<time> %r, mailbox expires %r" % (page.times, expiration)
    # A messenger's tracking parameters change nothing.
    for query in ("?v=h", "?utm_source=chat&fbclid=x%3Cscript%3E", "?expires=0"):
        again = preview(relay, mb.id, query=query)
        assert again.body == resp.body, "%s changed the page:\n%s" % (query, again.body[:2000])


def test_page_phrasing_from_the_relay(relay):
    for lifetime_s, phrase in ((3 * 86400 + 3600, "in 3 days"), (1800 + 30, "in 30 minutes")):
        mb = new_mailbox(relay, expires_in_s=lifetime_s)
        page = Text(preview(relay, mb.id).body.decode("utf-8"))
        assert "This share expires %s." % phrase in page.text, \
            "%d s left: %r" % (lifetime_s, page.text)


def test_page_of_an_expired_share(relay):
    expires_at = int(time.time()) + 2
    mb = new_mailbox(relay, body=default_body(mailboxConfiguration={"expiration": rfc3339(expires_at)}))
    resp = preview(relay, mb.id)
    if resp.status == 200:      # a slow machine may already be past the instant
        expect_share_page(resp.body.decode("utf-8"), "in less than a minute", "a share about to expire",
                          title=default_body()["displayInformation"]["title"])
    wait_until(lambda: preview(relay, mb.id).status == 404, 10, "the share to expire")
    expect_gone_page(preview(relay, mb.id).body.decode("utf-8"), "the expired share's page")


def test_page_of_a_deleted_or_unknown_share(relay):
    mb = new_mailbox(relay)
    expect_status(delete(relay, mb.id, mb.sender), 200, "delete")
    for mid, what in ((mb.id, "deleted"), (new_claim(), "unknown"), ("not-a-uuid", "malformed")):
        resp = preview(relay, mid)
        expect_status(resp, 404, "%s share" % what)
        expect_gone_page(resp.body.decode("utf-8"), "the %s share's page" % what)


# ------------------------------------------------------------ in a browser

def png_pixels(data):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit, non-interlaced
    RGB or RGBA PNG: what Chromium writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % data[:16]
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format %r" % (header,)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        # Most rows are "None" or "Up", which need no pass from left to right.
        if kind == 2:
            line = bytes((x + b) & 255 for x, b in zip(line, prev))
        elif kind != 0:
            line = bytearray(line)
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                if kind == 1:
                    line[i] = (line[i] + a) & 255
                elif kind == 3:
                    line[i] = (line[i] + (a + b) // 2) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(list(zip(line[0::bpp], line[1::bpp], line[2::bpp])))
        prev = line
    return width, height, rows


class Browser:
    """One headless Chromium for the module, driven over the DevTools
    protocol on a pipe (--remote-debugging-pipe: JSON messages ended by a
    NUL, ours on its fd 3, its own on fd 4). A Chromium start costs two
    seconds of CPU on this machine; the three pages share one."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="relay-chromium-")
        env = dict(os.environ, HOME=self.home, XDG_CONFIG_HOME=self.home,
                   XDG_CACHE_HOME=self.home, DBUS_SESSION_BUS_ADDRESS="disabled:")
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        # The relay's dev certificate is not in Chromium's store, and
        # Chromium takes no CA file: certificate errors are ignored, which
        # is safe for a loopback address the test started itself.
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--ignore-certificate-errors", "--remote-debugging-pipe",
               "--user-data-dir=" + os.path.join(self.home, "profile"), "--no-first-run",
               "--disable-extensions", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               "about:blank"]
        # Chromium's ends of the pipes must be its fds 3 and 4 (moved out
        # of the way first: either may be 3 or 4 already). Every other
        # descriptor of ours is close-on-exec.
        def fds():
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)
        # Its log goes to a file: a pipe nobody reads while it runs would
        # stop Chromium once full.
        self.log = os.path.join(self.home, "chromium.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, env=env, preexec_fn=fds, close_fds=False)
        os.close(to_browser)
        os.close(from_browser)
        self._buf, self._next_id, self.events = b"", 0, []
        self.lock = threading.Lock()

    def _message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, "chromium did not answer within %d s" % CHROMIUM_TIMEOUT_S
            if not select.select([self._in], [], [], left)[0]:
                continue
            chunk = os.read(self._in, 1 << 20)
            assert chunk, "chromium closed its pipe: %s" % self._stderr()
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _stderr(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")[-1500:]

    def call(self, method, session=None, **params):
        """Send one command; wait for its answer (events meanwhile are kept)."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + CHROMIUM_TIMEOUT_S
        while True:
            m = self._message(deadline)
            if m.get("id") == self._next_id:
                assert "error" not in m, "%s failed: %r" % (method, m["error"])
                return m["result"]
            self.events.append(m)

    def wait_event(self, method, session):
        deadline = time.monotonic() + CHROMIUM_TIMEOUT_S
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method and m.get("sessionId") == session:
                    del self.events[i]
                    return m
            self.events.append(self._message(deadline))

    def load(self, url, size):
        """Open url in a new tab of size; returns the DOM Chromium built and
        the screenshot as PNG bytes."""
        with self.lock:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            try:
                self.call("Emulation.setDeviceMetricsOverride", session, width=size[0],
                          height=size[1], deviceScaleFactor=1, mobile=False)
                self.call("Page.enable", session)
                self.call("Page.navigate", session, url=url)
                self.wait_event("Page.loadEventFired", session)
                dom = self.call("Runtime.evaluate", session, returnByValue=True,
                                expression="document.documentElement.outerHTML")["result"]["value"]
                png = base64.b64decode(self.call("Page.captureScreenshot", session,
                                                 format="png")["data"])
            finally:
                self.call("Target.closeTarget", targetId=target)
            return dom, png

    def close(self):
        try:
            self.call("Browser.close")
        except AssertionError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)
        shutil.rmtree(self.home, ignore_errors=True)


_browser = []
_browser_lock = threading.Lock()


def browser():
    """The module's Chromium, started on first use (closed at exit)."""
    if CHROMIUM is None:
        raise unittest.SkipTest("chromium is not installed (apt-get install chromium)")
    with _browser_lock:
        if not _browser:
            _browser.append(Browser())
            atexit.register(_browser[0].close)
        return _browser[0]


def chromium(url, size, name):
    """Load url in headless Chromium at size; returns the DOM it built and
    the screenshot's pixels. With RELAY_PAGE_SHOTS=DIR the screenshot is
    also kept as DIR/name-WxH.png, to be looked at."""
    dom, png = browser().load(url, size)
    if os.environ.get("RELAY_PAGE_SHOTS"):
        with open(os.path.join(os.environ["RELAY_PAGE_SHOTS"], "%s-%dx%d.png" % (name, *size)),
                  "wb") as f:
            f.write(png)
    return dom, png_pixels(png)


def expect_rendered(pixels, size, what):
    """The screenshot has the window's size, the page's own background (the
    inline style ran under the CSP), dark text, and no text drawn in the
    right margin, where only the card's faint shadow may fall (long values
    wrap instead of widening the page)."""
    width, height, rows = pixels
    assert (width, height) == size, "%s screenshot is %dx%d, expected %dx%d" % (what, width, height, *size)
    assert rows[0][0] == BACKGROUND and rows[-1][-1] == BACKGROUND, \
        "%s: corners are %r and %r, not the page background %r" % (what, rows[0][0], rows[-1][-1], BACKGROUND)
    dark = sum(1 for row in rows for px in row[::2] if max(px) < 90)
    assert dark > 200, "%s: only %d dark pixels; no text was drawn" % (what, dark)
    margin = [px for row in rows for px in row[-8:] if min(px) < 200]
    assert not margin, "%s: %d pixels drawn in the right margin" % (what, len(margin))


def share_url(relay, mailbox_id):
    return "https://127.0.0.1:%d/v1/m/%s" % (relay.port, mailbox_id)


def test_chromium_phone(relay):
    # A title without a break opportunity must wrap, not widen the page; and
    # markup in a value stays text in the browser's DOM.
    display = dict(DISPLAY, title="Key" + "W" * 120,
                   description="<script>alert(1)</script> for the weekend")
    mb = new_mailbox(relay, body=default_body(displayInformation=display), expires_in_s=LIFETIME_S)
    dom, pixels = chromium(share_url(relay, mb.id) + "?utm_source=chat", PHONE, "phone")
    page = expect_share_page(dom, "in 23 hours", "the page in Chromium (phone)", display["title"])
    assert "<script>alert(1)</script> for the weekend" in page.text, page.text
    expect_rendered(pixels, PHONE, "phone")


def test_chromium_desktop(relay):
    mb = new_mailbox(relay, body=default_body(displayInformation=DISPLAY), expires_in_s=LIFETIME_S)
    dom, pixels = chromium(share_url(relay, mb.id), DESKTOP, "desktop")
    expect_share_page(dom, "in 23 hours", "the page in Chromium (desktop)")
    expect_rendered(pixels, DESKTOP, "desktop")


def test_chromium_not_found(relay):
    dom, pixels = chromium(share_url(relay, new_claim()), PHONE, "404")
    expect_gone_page(dom, "the 404 page in Chromium")
    expect_rendered(pixels, PHONE, "404 page")
