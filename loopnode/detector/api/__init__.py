"""The detector's local APIs: REST (rest.py, detector.md §2) and Socket.IO (sio.py, §3).

Both depend only on `DetectorApi` (protocol.py), the part of the node they serve, never on `DetectorNode`.
"""
