"""The node's HTTP/1.1 server (issue 19): strict request parsing, bounded connections, threads and memory.

`parse` is pure (request heads, framing rules, chunk sizes), `limits` holds the settings, `body` reads request
bodies from the socket, `connection` serves one connection in its thread, `closer` answers and lingers
refused connections, `listener` accepts. `loopnode.service.server.HttpServer` puts them together.
"""
