"""The Runtime API loop of the awslambdaric stand-in (see __init__).

run() loads the handler, reporting a failure to /runtime/init/error and
exiting with status 1, then loops: GET /runtime/invocation/next, call the
handler with the decoded event and a context, POST the JSON result to
/runtime/invocation/{id}/response or an error document
{"errorMessage", "errorType", "requestId", "stackTrace"} to
/runtime/invocation/{id}/error with the Lambda-Runtime-Function-Error-Type
header.

One difference from the published client: it reports a handler that cannot
be imported (Runtime.ImportModuleError, Runtime.HandlerNotFound, ...) as an
init error, while awslambdaric 2.0 answers every invocation with it.
"""

import decimal
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API_PREFIX = "/2018-06-01"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_THIS_FILE = os.path.abspath(__file__)


class FaultException(Exception):
    """A failure of the runtime itself (not of the function's code), with
    Lambda's errorType for it."""

    def __init__(self, error_type, message):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message


class RuntimeClient(object):
    """The Runtime API at host:port (AWS_LAMBDA_RUNTIME_API)."""

    def __init__(self, address):
        self.address = address

    def _request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.address)
        try:
            conn.request(method, API_PREFIX + path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.msg, data
        finally:
            conn.close()

    def next(self):
        status, headers, body = self._request("GET", "/runtime/invocation/next")
        if status != 200:
            raise RuntimeError(
                "GET /runtime/invocation/next: HTTP {}: {!r}".format(status, body[:200]))
        return headers, body

    def _post(self, path, payload, headers):
        headers = dict(headers)
        headers["Content-Type"] = "application/json"
        status, _, body = self._request("POST", path, payload, headers)
        if status >= 300:
            sys.stderr.write("awslambdaric: POST {}: HTTP {}: {!r}\n".format(path, status, body[:200]))

    def post_response(self, request_id, payload):
        self._post("/runtime/invocation/{}/response".format(request_id), payload, {})

    def post_error(self, request_id, doc):
        self._post("/runtime/invocation/{}/error".format(request_id),
                   _dumps(doc), {ERROR_TYPE_HEADER: _header_safe(doc["errorType"])})

    def post_init_error(self, doc):
        self._post("/runtime/init/error", _dumps(doc),
                   {ERROR_TYPE_HEADER: _header_safe(doc["errorType"])})


class CognitoIdentity(object):
    def __init__(self, doc):
        doc = doc or {}
        self.cognito_identity_id = doc.get("cognitoIdentityId")
        self.cognito_identity_pool_id = doc.get("cognitoIdentityPoolId")


class ClientContext(object):
    def __init__(self, doc):
        self.client = doc.get("client")
        self.custom = doc.get("custom")
        self.env = doc.get("env")


class LambdaContext(object):
    """The context object handed to the handler, as awslambdaric's."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn, identity, client_context):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity(identity)
        self.client_context = ClientContext(client_context) if client_context else None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def _decimal(o):
    if isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError("Object of type {} is not JSON serializable".format(type(o).__name__))


def _dumps(obj):
    return json.dumps(obj, default=_decimal).encode("utf-8")


def _header_safe(value):
    return "".join(c if " " <= c <= "~" else "?" for c in str(value))


def _json_header(headers, name):
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _user_frames(tb):
    """The traceback's frames outside this client and the import machinery."""
    return [f for f in traceback.extract_tb(tb)
            if os.path.abspath(f.filename) != _THIS_FILE and not f.filename.startswith("<frozen importlib")]


def _error_doc(exc, request_id=""):
    if isinstance(exc, FaultException):
        return {"errorMessage": exc.message, "errorType": exc.error_type,
                "requestId": request_id, "stackTrace": []}
    return {"errorMessage": str(exc), "errorType": type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_list(_user_frames(exc.__traceback__))}


def _log_error(doc):
    lines = ["[ERROR] {}: {}".format(doc["errorType"], doc["errorMessage"])]
    if doc["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in doc["stackTrace"])
    sys.stdout.write("\r".join(lines) + "\n")
    sys.stdout.flush()


def load_handler(app_root, handler):
    """Imports module.function (dir/module.function) from app_root."""
    if app_root not in sys.path:
        sys.path.insert(0, app_root)
    modname, _, fname = handler.rpartition(".")
    if not modname or not fname:
        raise FaultException("Runtime.MalformedHandlerName",
                             "Bad handler '{}': not enough values to unpack (expected 2, got 1)".format(handler))
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise FaultException("Runtime.ImportModuleError",
                             "Unable to import module '{}': {}".format(modname, e))
    except SyntaxError as e:
        raise FaultException("Runtime.UserCodeSyntaxError",
                             "Syntax error in module '{}': {}".format(modname, e))
    func = getattr(module, fname, None)
    if func is None or not callable(func):
        raise FaultException("Runtime.HandlerNotFound",
                             "Handler '{}' missing on module '{}'".format(fname, modname))
    return func


def handle(client, func, headers, body):
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    trace_id = headers.get("Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        try:
            event = json.loads(body.decode("utf-8")) if body else None
        except ValueError as e:
            raise FaultException("Runtime.UnmarshalError", "Unable to unmarshal input: {}".format(e))
        context = LambdaContext(
            request_id,
            int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            _json_header(headers, "Lambda-Runtime-Cognito-Identity"),
            _json_header(headers, "Lambda-Runtime-Client-Context"))
        result = func(event, context)
        try:
            payload = _dumps(result)
        except (TypeError, ValueError) as e:
            raise FaultException("Runtime.MarshalError", "Unable to marshal response: {}".format(e))
    except Exception as e:
        doc = _error_doc(e, request_id)
        _log_error(doc)
        client.post_error(request_id, doc)
        return
    client.post_response(request_id, payload)


def run(app_root, handler, api_address):
    try:
        sys.stdout.reconfigure(line_buffering=True)  # Python 3.7+
        sys.stderr.reconfigure(line_buffering=True)
    except AttributeError:
        pass
    client = RuntimeClient(api_address)
    try:
        func = load_handler(app_root, handler)
    except Exception as e:
        doc = _error_doc(e)
        _log_error(doc)
        client.post_init_error(doc)
        sys.exit(1)
    while True:
        headers, body = client.next()
        handle(client, func, headers, body)
