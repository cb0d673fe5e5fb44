"""Host side of the handheld-programmer link (HPP/1): transports, frame codec, session, client.

Knows nothing of the database, HTTP or scheduling; imports only ``schemas``, pyserial and the
standard library. The protocol is described in docs/protocol.md.
"""
