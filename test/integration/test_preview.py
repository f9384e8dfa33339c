"""ReadDisplayInformationFromMailbox — GET/HEAD /v1/m/{id} (spec §4.4, §8, §10):
the OpenGraph page, its headers, escaping, and that it never binds anyone."""

import html
import html.parser
import re

from relaytest import (CSP, Conn, Relay, build_request, default_body, expect_json, expect_status,
                       media_type, new_claim, new_mailbox, preview, read, with_member)

EXPECTED_SECONDS = 2

D = ("displayInformation",)


class Page(html.parser.HTMLParser):
    """Collects tags, attributes (unescaped by the parser) and text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []              # (tag, dict(attrs))
        self.title = None
        self._in = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag not in ("meta", "link", "img", "br", "hr", "input"):
            self._in.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass

    def handle_data(self, data):
        if self._in and self._in[-1] == "title":
            self.title = (self.title or "") + data
        elif "body" in self._in:
            self.text.append(data)

    def og(self, prop):
        values = []
        for tag, attrs in self.tags:
            a = dict(attrs)
            if tag == "meta" and (a.get("property") == prop or a.get("name") == prop):
                values.append(a.get("content"))
        return values


def parse(resp):
    page = Page()
    page.feed(resp.body.decode("utf-8"))
    page.close()
    return page


def check_headers(resp, what):
    expect_equal_ci(resp.header("Content-Type"), "text/html; charset=utf-8", "%s Content-Type" % what)
    assert resp.header("Content-Security-Policy") == CSP, \
        "%s CSP %r, expected %r" % (what, resp.header("Content-Security-Policy"), CSP)
    assert (resp.header("X-Content-Type-Options") or "").lower() == "nosniff", "%s: %s" % (what, resp)
    assert (resp.header("Referrer-Policy") or "").lower() == "no-referrer", "%s: %s" % (what, resp)
    assert "no-store" in (resp.header("Cache-Control") or "").lower(), "%s: %s" % (what, resp)


def expect_equal_ci(actual, expected, what):
    norm = lambda s: re.sub(r"\s*;\s*", "; ", (s or "").strip().lower())
    assert norm(actual) == norm(expected), "%s: %r, expected %r" % (what, actual, expected)


def check_og(page, mb, display):
    for prop, want in (("og:title", display["title"]), ("og:description", display["description"]),
                       ("og:image", display["imageURL"]), ("og:type", "website"),
                       ("og:url", "%s/v1/m/%s" % (mb.relay.public_url, mb.id))):
        got = page.og(prop)
        assert got == [want], "%s: expected exactly one with %r, got %r" % (prop, want, got)
    assert page.title == display["title"], "<title> %r, expected %r" % (page.title, display["title"])


def test_preview_page(relay):
    mb = new_mailbox(relay)
    resp = preview(relay, mb.id)
    expect_status(resp, 200, "preview")
    check_headers(resp, "preview")
    page = parse(resp)
    check_og(page, mb, mb.body["displayInformation"])
    body_text = " ".join(page.text)
    for key in ("title", "description"):
        assert mb.body["displayInformation"][key] in body_text, \
            "page body does not show the %s: %r" % (key, body_text[:300])


def test_preview_with_share_query(relay):
    mb = new_mailbox(relay)
    for v in ("a", "h", "c"):
        resp = preview(relay, mb.id, query="?v=%s" % v)
        expect_status(resp, 200, "preview with ?v=%s" % v)
        check_og(parse(resp), mb, mb.body["displayInformation"])


def test_head_preview(relay):
    mb = new_mailbox(relay)
    get = preview(relay, mb.id)
    with Conn(relay) as c:
        c.send(build_request("HEAD", mb.path, host=c.host_header) +
               build_request("GET", "/v1/m/%s" % new_claim(), [("Mailbox-Request-ID", "after-head")],
                             host=c.host_header))
        head = c.read_response("HEAD")
        expect_status(head, 200, "HEAD preview")
        check_headers(head, "HEAD preview")
        cl = head.header("Content-Length")
        if cl is not None:
            assert int(cl) == len(get.body), "HEAD Content-Length %s, GET body %d" % (cl, len(get.body))
        # If HEAD had sent a body, the next response would not parse.
        nxt = c.read_response("GET")
        expect_status(nxt, 404, "request after HEAD")
        assert nxt.header("Mailbox-Request-ID") == "after-head", nxt


def test_preview_escapes_everything(relay):
    display = {
        "title": "<script>alert('t')</script> & \"quoted\" </title><b id=inj1>",
        "description": "\"><img src=x onerror=alert(1) id=inj2> ' onmouseover='alert(2)' & <!-- x -->",
        "imageURL": "https://example.com/a.png?x=\"><script>alert(3)</script>&y='z' onload='alert(4)'",
    }
    mb = new_mailbox(relay, body=default_body(displayInformation=display))
    resp = preview(relay, mb.id)
    expect_status(resp, 200)
    check_headers(resp, "preview")
    raw = resp.body.decode("utf-8")
    page = parse(resp)
    check_og(page, mb, display)
    tags = [t for t, _ in page.tags]
    assert "script" not in tags, "a <script> tag made it into the page"
    for tag, attrs in page.tags:
        for name, value in attrs:
            assert not name.startswith("on"), "event-handler attribute %s on <%s>" % (name, tag)
            assert value not in ("inj1", "inj2"), "injected element <%s %s=%s>" % (tag, name, value)
    assert "<script" not in raw.lower() and "<img src=x" not in raw, "raw markup from the display text"
    for m in re.finditer(r"&", raw):
        assert re.match(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);", raw[m.start():m.start() + 12]), \
            "bare '&' in the page near %r" % raw[max(0, m.start() - 20):m.start() + 20]
    assert "<!-- x -->" not in raw, "comment from the description appears unescaped"


def test_preview_shows_unicode(relay):
    display = {"title": "Schl\u00fcssel \U0001F511 f\u00fcr Zimmer 12",
               "description": "\u8f66\u94a5\u5319 \u20ac",
               "imageURL": "https://example.com/k.png"}
    mb = new_mailbox(relay, body=default_body(displayInformation=display))
    resp = preview(relay, mb.id)
    expect_status(resp, 200)
    check_og(parse(resp), mb, display)


def test_preview_never_shows_secrets(relay):
    token = "TOKEN-%s" % new_claim()
    sender = new_claim()
    mb = new_mailbox(relay, sender=sender,
                     body=default_body(notificationToken={"type": "com.apple.apns", "tokenData": token}),
                     headers={"Mailbox-Device-Attestation": "ATTEST-%s" % sender})
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    resp = preview(relay, mb.id, claim=receiver)
    expect_status(resp, 200)
    text = resp.body.decode("utf-8")
    for secret, what in ((mb.body["payload"]["data"], "payload data"), (token, "token"),
                         (sender, "Sender claim"), (receiver, "Receiver claim"),
                         ("ATTEST-", "attestation"), ("AEAD_AES_128_GCM", "payload type")):
        assert secret not in text and secret.upper() not in text, "%s appears in the preview" % what


def test_preview_ignores_claims_and_never_binds(relay):
    mb = new_mailbox(relay)
    watcher = new_claim()
    for method in ("GET", "HEAD"):
        expect_status(preview(relay, mb.id, method=method, claim=watcher), 200, "%s with a claim" % method)
    expect_status(preview(relay, mb.id, claim="not-a-uuid"), 200, "preview with a malformed claim")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200, "first reader after previews binds")
    resp = read(relay, mb.id, watcher)
    assert resp.status == 401, "the previewing claim was bound as Receiver: %s" % resp
    mb2 = new_mailbox(relay, rights="WD")
    expect_status(preview(relay, mb2.id), 200, "preview of a mailbox without R")


def test_preview_404_is_html_with_csp(relay):
    for mid in (new_claim(), "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        for method in ("GET", "HEAD"):
            resp = preview(relay, mid, method=method)
            expect_status(resp, 404, "%s preview of %r" % (method, mid))
            check_headers(resp, "preview 404")
        resp = preview(relay, mid)
        assert resp.body.strip().lower().startswith((b"<!doctype html", b"<html")), \
            "404 body is not an HTML page: %r" % resp.body[:100]


def test_preview_public_url_in_og_url():
    with Relay("--public-url", "https://share.example.net") as relay:
        mb = new_mailbox(relay)
        assert mb.url == "https://share.example.net/v1/m/%s" % mb.id, mb.url
        page = parse(preview(relay, mb.id, query="?v=h"))
        assert page.og("og:url") == ["https://share.example.net/v1/m/%s" % mb.id], page.og("og:url")
