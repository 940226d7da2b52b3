"""HTTP/2 with prior knowledge (h2c) on brownout's port: clients that open a cleartext connection
with HTTP/2's preface instead of HTTP/1.1 (`httpx.AsyncClient(http1=False, http2=True)`, `curl
--http2-prior-knowledge`, gRPC-style clients) are served as HTTP/2.

mitmproxy speaks HTTP/2 to a client when the TLS handshake chose it (ALPN `h2`); on cleartext its
HTTP layer reads the preface as an HTTP/1 request `PRI * HTTP/2.0`, which its DisableH2C addon
kills, so the client gets a closed connection and no answer. This addon looks at the first bytes
of a connection to the reverse-proxy port after mitmproxy's NextLayer has picked the HTTP layer:
the preface marks the client connection as `h2`, the one thing mitmproxy's HTTP layer reads to
choose its HTTP/2 server. Upgrading an HTTP/1.1 connection (`Upgrade: h2c`) stays unsupported:
mitmproxy strips the header and answers in HTTP/1.1.
"""

from __future__ import annotations

from mitmproxy.proxy import layer
from mitmproxy.proxy import layers
from mitmproxy.proxy.mode_specs import ReverseMode

# RFC 9113, 3.4: what an HTTP/2 client sends first on a connection it knows speaks HTTP/2.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class PriorKnowledgeH2:
    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        context = nextlayer.context
        if not isinstance(nextlayer.layer, layers.HttpLayer) or context.client.alpn:
            return
        if not isinstance(context.client.proxy_mode, ReverseMode):
            return  # the forward port: HTTP/2 comes through CONNECT and TLS there
        data = nextlayer.data_client()
        if data.startswith(PREFACE):
            context.client.alpn = b"h2"
        elif len(data) < len(PREFACE) and PREFACE.startswith(data):
            # Too few bytes to tell yet (an HTTP/1 request starts "POST" or "PUT" just as well):
            # undo the choice, so mitmproxy asks again when more arrive.
            nextlayer.layer = None
