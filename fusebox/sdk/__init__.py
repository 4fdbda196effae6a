"""Python SDK for services that publish call outcomes and honour breakers locally.

    from fusebox.sdk import FuseboxClient, BreakerOpenError

    client = FuseboxClient(bootstrap="127.0.0.1:19092", instance="checkout-1")
    payments = client.breaker("payments-api", timeout=2.0)

    with payments:                      # or: async with payments:
        charge(card)

    @payments                           # sync or async functions
    async def refund(order): ...

See docs/sdk.md.
"""
from fusebox.sdk.local_breaker import Breaker, BreakerOpenError
from fusebox.sdk.client import FuseboxClient, SdkStats
from fusebox.sdk.states import LocalState

__all__ = ["Breaker", "BreakerOpenError", "FuseboxClient", "LocalState", "SdkStats"]
