"""`make test-conformance`: loopnode's WebSocket transport (service/fastws.py) against Autobahn|Testsuite (issue 10)."""
