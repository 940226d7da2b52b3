"""What brownout reads from a request, read once per flow and shared by the addons that need it.

The Injector classifies a request and the observer fingerprints it; both want its headers by
lower-case name and its JSON body. Decoding mitmproxy's header fields and parsing the body once
instead of twice is a measurable share of brownout's cost per flow.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from mitmproxy import http

from brownout.classify.request import parse_json_body
from brownout.classify.request import plain_headers


@dataclass(frozen=True, slots=True)
class RequestView:
    headers: Mapping[str, str]  # lower-case names; the first value of a repeated header
    body: Mapping[str, object]  # the JSON object, or empty


_views: weakref.WeakKeyDictionary[http.HTTPFlow, RequestView] = weakref.WeakKeyDictionary()


def request_view(flow: http.HTTPFlow) -> RequestView:
    """The request as brownout reads it; taken the first time it is asked for, so an addon that
    changes the request (the Injector strips its override header) asks first."""
    view = _views.get(flow)
    if view is None:
        view = _views[flow] = RequestView(
            plain_headers(flow.request.headers.fields), parse_json_body(flow.request.raw_content)
        )
    return view
