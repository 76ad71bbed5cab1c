"""The hosted connect pages: links built from public_url (never from the Host header),
and framed only by the origins the product allows (CSP frame-ancestors)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from onboard360.config.hubs import ProductConfig
from tests.stack import Stack, running_stack


def test_connect_page_links_ignore_the_host_header(stack: Stack) -> None:
    connect_url = stack.start_onboarding("pp")["connect_url"]
    page = httpx.get(connect_url, headers={"Host": "evil.example"}, timeout=10)
    assert page.status_code == 200, page.text
    assert "evil.example" not in page.text
    assert f'data-onboard360-base="{stack.service_url}/connect/pp"' in page.text
    assert f'src="{stack.service_url}/connect-assets/connect.js"' in page.text


def test_connect_pages_may_not_be_framed_by_default(stack: Stack) -> None:
    connect_url = stack.start_onboarding("pp")["connect_url"]
    for url in (connect_url, f"{stack.service_url}/connect/pp?start=unknown"):
        page = httpx.get(url, timeout=10)
        assert page.headers["content-security-policy"] == "frame-ancestors 'none'", url


def test_a_product_may_allow_its_own_origins_to_frame_its_connect_pages(
    database_url: str,
) -> None:
    origins = ["https://app.example.com", "https://*.partner.example:8443"]
    with running_stack(database_url, product_frame_ancestors=origins) as stack:
        page = httpx.get(stack.start_onboarding("pp")["connect_url"], timeout=10)
        assert page.headers["content-security-policy"] == (
            "frame-ancestors https://app.example.com https://*.partner.example:8443"
        )


@pytest.mark.parametrize(
    "origin",
    ["https://app.example.com; script-src *", "app.example.com", "*", "https://a.example/x"],
)
def test_frame_ancestors_take_only_origins(origin: str) -> None:
    with pytest.raises(ValidationError, match="frame_ancestors"):
        ProductConfig(frame_ancestors=[origin])
