"""A real HTTP server on 127.0.0.1 serving .npy files, for the data-layer tests and the benchmark.

Modes: honours Range (206), ignores Range (200, whole file), 404 (and 500), "drop"
(announces the full Content-Length, writes half the body, closes), "wrong206" (answers 206 with
the file's first bytes, whatever range was asked, and says so in Content-Range), "bare206" (206
without Content-Range), "trickle" (honours Range, then sends ``trickle_bytes`` (1 KB) every
``trickle_delay`` seconds, 3 by default) and "silent" (accepts the request and never answers). It
records every request and the body bytes it managed to write.
"""

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def npy_bytes(array):
    """What np.save writes (a version-1 header of 128 bytes for these arrays)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_bytes_with_header(array, header_len):
    """An .npy file with a hand-made version-1 header of exactly ``header_len`` bytes
    (Google's files have 80), padded with spaces and ending in a newline."""
    array = np.ascontiguousarray(array)
    text = repr(
        {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False, "shape": array.shape}
    )
    pad = header_len - 10 - len(text) - 1
    assert pad >= 0, "header too short for this dict"
    dict_part = (text + " " * pad + "\n").encode("latin1")
    head = b"\x93NUMPY\x01\x00" + len(dict_part).to_bytes(2, "little") + dict_part
    assert len(head) == header_len
    return head + array.tobytes()


# ---------------------------------------------------------------------- server ----


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        rec = {
            "path": self.path,
            "range": self.headers.get("Range"),
            "status": None,
            "sent": 0,
            "done": False,
        }
        with server.lock:
            server.log.append(rec)
        try:
            self._answer(server, rec)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass  # the client closed early (expected when Range is ignored)
        finally:
            rec["done"] = True

    def _answer(self, server, rec):
        if server.mode == "silent":  # until the server is closed
            server.stop.wait()
            return
        body = server.files.get(self.path)
        if server.mode == "404" or body is None:
            rec["status"] = 404
            self.send_error(404)
            return
        if server.mode == "500":
            rec["status"] = 500
            self.send_error(500)
            return
        total = len(body)
        spec = self.headers.get("Range")
        if (
            server.mode in ("range", "drop", "wrong206", "bare206", "trickle")
            and spec
            and spec.startswith("bytes=")
        ):
            first, _, last = spec[len("bytes=") :].partition("-")
            first, last = int(first), min(int(last) if last else total - 1, total - 1)
            if first >= total:  # as real servers do: nothing there
                rec["status"] = 416
                self.send_error(416)
                return
            if server.mode == "wrong206":
                first, last = 0, last - first
            part = body[first : last + 1]
            self.send_response(206)
            if server.mode != "bare206":
                self.send_header("Content-Range", f"bytes {first}-{last}/{total}")
            rec["status"] = 206
        else:
            part = body
            self.send_response(200)
            rec["status"] = 200
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Connection", "close")
        self.end_headers()
        if server.mode == "drop":
            part = part[: len(part) // 2]  # then the handler returns and the socket closes
        view = memoryview(part)
        if server.mode == "trickle":
            step = server.trickle_bytes
            for i in range(0, len(view), step):
                self.wfile.write(view[i : i + step])
                self.wfile.flush()
                rec["sent"] += len(view[i : i + step])
                if server.stop.wait(server.trickle_delay):
                    return
            return
        for i in range(0, len(view), 1 << 16):
            chunk = view[i : i + (1 << 16)]
            self.wfile.write(chunk)
            rec["sent"] += len(chunk)
        self.close_connection = True


class QuickDrawServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.files, self.httpd.log, self.httpd.mode = {}, [], "range"
        self.httpd.lock = threading.Lock()
        self.httpd.trickle_delay, self.httpd.trickle_bytes, self.httpd.stop = 3.0, 1024, threading.Event()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/numpy_bitmap"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def mode(self):
        return self.httpd.mode

    @mode.setter
    def mode(self, value):
        self.httpd.mode = value

    def serve(self, category, data):
        """Serve ``data`` (an array, saved with np.save, or raw bytes) as <category>.npy."""
        raw = data if isinstance(data, bytes) else npy_bytes(data)
        self.httpd.files[f"/numpy_bitmap/{category.replace(' ', '%20')}.npy"] = raw
        return raw

    @property
    def requests(self):
        """The requests so far, once each has been fully answered (or given up)."""
        deadline = time.monotonic() + 10
        while not all(r["done"] for r in self.httpd.log):
            assert time.monotonic() < deadline, "server still busy"
            time.sleep(0.01)
        with self.httpd.lock:
            return list(self.httpd.log)

    def sent(self):
        return sum(r["sent"] for r in self.requests)

    def forget(self):
        _ = self.requests  # wait for any request still in flight
        with self.httpd.lock:
            self.httpd.log.clear()

    def close(self):
        if self.thread is None:
            return
        self.thread, thread = None, self.thread
        self.httpd.stop.set()  # a trickling answer ends at once
        self.httpd.shutdown()
        self.httpd.server_close()
        thread.join(5)
