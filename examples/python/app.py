"""A tiny HTTP app: edit greeting.py, run `doit push`, and the new answer is served."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from greeting import greeting


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{greeting()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    print("listening on 8080", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
