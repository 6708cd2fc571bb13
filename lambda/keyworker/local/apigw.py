"""A local HTTP server that does what API Gateway (HTTP API, payload format 2.0) does.

It turns each request into the proxy event the api Lambda receives on AWS, runs the JWT
check of the authorizer first (401 without calling the handler, as API Gateway does), calls the
handler in-process and writes its proxy response back.

What it answers itself (a malformed request, no valid token, a body over Lambda's payload
limit, the function failing) is a problem document like the function's own answers (see
``docs/http-api.md``); on AWS, API Gateway answers those with bodies of its own.
"""

from __future__ import annotations

import base64
import http
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from keyworker.api import problems
from keyworker.local.console import ConsoleFiles
from keyworker.local.tokens import InvalidToken, LocalTokenIssuer

LambdaHandler = Callable[[dict[str, Any], Any], Mapping[str, Any]]

logger = logging.getLogger(__name__)

#: Lambda's synchronous payload limit: a larger body never reaches the function on AWS. The
#: API's own, lower limit is the function's to enforce (``keyworker.api.body``).
GATEWAY_MAX_BODY = 6 * 1024 * 1024
_TEXT_TYPES = ("application/json", "application/problem+json", "text/")


class LambdaContext:
    """The few attributes of a Lambda context object that handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_seconds: float = 30.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def build_http_api_event(
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    claims: Mapping[str, Any] | None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The API Gateway HTTP API (2.0) proxy event for one request."""
    split = urlsplit(raw_path)
    lowered = {k.lower(): v for k, v in headers.items()}
    query = parse_qsl(split.query, keep_blank_values=True)
    query_params: dict[str, str] = {}
    for name, value in query:
        # API Gateway joins repeated query parameters with commas.
        query_params[name] = f"{query_params[name]},{value}" if name in query_params else value
    content_type = lowered.get("content-type", "")
    is_text = not body or (content_type.startswith(_TEXT_TYPES) and _is_utf8(body))
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if query_params:
        event["queryStringParameters"] = query_params
    if body:
        event["body"] = body.decode() if is_text else base64.b64encode(body).decode()
    if claims is not None:
        # API Gateway hands the authorizer's claims to Lambda as strings.
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": {k: str(v) for k, v in claims.items()}, "scopes": None}
        }
    return event


def _is_utf8(body: bytes) -> bool:
    # Bytes that are not text go to the function base64-encoded, as they are: the function
    # answers them (400), the gateway does not drop the connection.
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _gateway_problem(status: int, detail: str) -> dict[str, Any]:
    """A problem the gateway answers itself, as a proxy response."""
    if status == 401:
        return problems.proxy_response(problems.not_authenticated())
    if status == 413:
        return problems.proxy_response(problems.payload_too_large(GATEWAY_MAX_BODY))
    kinds = {400: "invalid-request", 500: "internal", 503: "unavailable"}
    phrase = http.HTTPStatus(status).phrase
    kind = kinds.get(status, phrase.lower().replace(" ", "-"))
    return problems.proxy_response(problems.problem(status, kind, phrase, detail))


class ApiGatewayServer:
    """Serves the api Lambda over HTTP on one port, in a background thread."""

    def __init__(
        self,
        handler: LambdaHandler,
        tokens: LocalTokenIssuer,
        host: str = "127.0.0.1",
        port: int = 8000,
        function_name: str = "keyworker-api",
        public_paths: tuple[str, ...] = ("/health",),
        console: ConsoleFiles | None = None,
    ) -> None:
        self._handler = handler
        self._console = console
        self._tokens = tokens
        self._function_name = function_name
        self._public_paths = public_paths
        self._httpd = ThreadingHTTPServer((host, port), self._request_handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # Connections kept alive outlive the listener: their next request is refused.
        self._stopping = True
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                # Request lines carry phone numbers in paths (/phones/{phone}/block): keep them
                # out of the console; the handler's own structured logs mask them.
                return

            def _serve(self) -> None:
                server._serve(self)

            def send_error(
                self, code: int, message: str | None = None, explain: str | None = None
            ) -> None:
                # http.server's own refusals (request line or headers too long, a method it
                # has no handler for, ...) are HTML by default; they are problems here too.
                self.close_connection = True
                detail = message or http.HTTPStatus(code).description
                server._write_proxy_response(self, _gateway_problem(code, detail))

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        if self._stopping:
            request.close_connection = True
            self._write_proxy_response(request, _gateway_problem(503, "The stack is stopping."))
            return
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            request.send_error(400, "Content-Length is not a number of bytes")
            return
        if length > GATEWAY_MAX_BODY:
            # The body is not read: the connection cannot be used for another request.
            request.close_connection = True
            self._write_proxy_response(request, _gateway_problem(413, ""))
            return
        body = request.rfile.read(length) if length else b""
        path = urlsplit(request.path).path
        # The console's files are static (S3 on AWS): answered here, never by the function,
        # and without a token (they hold no data; the page sends the token to the API).
        static = self._console.answer(request.command, path) if self._console else None
        if static is not None:
            self._write_proxy_response(request, static)
            return
        claims: dict[str, Any] | None = None
        if path not in self._public_paths:
            auth = request.headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token:
                    raise InvalidToken("no bearer token")
                claims = self._tokens.verify(token.strip())
            except InvalidToken:
                # The authorizer refuses: the handler never runs (see docs/http-api.md).
                self._write_proxy_response(request, _gateway_problem(401, ""))
                return
        event = build_http_api_event(
            request.command,
            request.path,
            dict(request.headers.items()),
            body,
            claims,
            source_ip=request.client_address[0],
        )
        try:
            response = self._handler(event, LambdaContext(self._function_name))
        except Exception as error:
            # The function failed or its container died: API Gateway answers 500 without
            # detail; the reason goes to the log.
            logger.error("%s failed: %s", self._function_name, error)
            detail = (
                f"The function {self._function_name} failed or its container exited; "
                "the reason is in the Lambda log."
            )
            self._write_proxy_response(request, _gateway_problem(500, detail))
            return
        self._write_proxy_response(request, response)

    def _write_proxy_response(
        self, request: BaseHTTPRequestHandler, response: Mapping[str, Any]
    ) -> None:
        status = int(response.get("statusCode", 200))
        headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()
        cookies = response.get("cookies") or []
        self._write(request, status, headers, payload, cookies)

    @staticmethod
    def _write(
        request: BaseHTTPRequestHandler,
        status: int,
        headers: Mapping[str, str],
        payload: bytes,
        cookies: list[str] | None = None,
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name != "content-length":
                request.send_header(name, value)
        for cookie in cookies or []:
            request.send_header("set-cookie", cookie)
        request.send_header("content-length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)


def json_response(status: int, body: Any) -> dict[str, Any]:
    """A proxy response with a JSON body (for local-only routes such as /health)."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
