"""Python SDK for services that publish call outcomes and honour breakers locally."""
