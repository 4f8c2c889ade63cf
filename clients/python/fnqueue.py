"""fnqueue client for Python, standard library only (urllib, json, hmac).

Copy this one file next to your code (Python 3.8 or later)::

    import fnqueue
    fnq = fnqueue.Client("http://localhost:8000")          # or FNQUEUE_URL, FNQUEUE_API_KEY, FNQUEUE_TOKEN
    fnq.invoke("PrimeChecker", {"number": 17})["result"]   # {'number': 17, 'is_prime': True, ...}
    job = fnq.submit("PrimeChecker", {"number": 17})
    record = fnq.wait(job["job_id"], timeout=30, on_progress=print)

Every refusal raises FnqueueError with the API's code, message, details and request_id
(docs/api.md#errors) and the HTTP status. Webhook receivers check deliveries with
verify_webhook (Standard Webhooks, https://www.standardwebhooks.com). docs/clients/python.md.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Client", "FnqueueError", "WebhookVerificationError", "verify_webhook", "TERMINAL_STATUSES"]
__version__ = "0.1.0"

#: The statuses after which a job never changes.
TERMINAL_STATUSES = frozenset(("completed", "failed", "cancelled"))

#: Standard Webhooks' default tolerance between webhook-timestamp and now (seconds).
WEBHOOK_TOLERANCE_S = 300


class FnqueueError(Exception):
    """A refused request or a wait that could not finish.

    ``code`` is the API's error code (VALIDATION_ERROR, JOB_NOT_FOUND, TIMEOUT ...) or one of the
    client's: UNREACHABLE (no answer), WAIT_TIMEOUT (wait's timeout passed), HTTP_ERROR (an answer
    that is not the API's error shape). ``status`` is the HTTP status, None without an answer.
    """

    def __init__(self, code, message, details=None, request_id=None, status=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.details = details if isinstance(details, dict) else {}
        self.request_id = request_id
        self.status = status


class WebhookVerificationError(Exception):
    """A webhook delivery that is not signed by the secret, or whose timestamp is out of tolerance."""


class Client:
    """The fnqueue API.

    :param base_url: e.g. ``http://localhost:8000`` (default: FNQUEUE_URL, else that).
    :param api_key: sent as X-API-Key (default: FNQUEUE_API_KEY).
    :param token: a JWT, sent as ``Authorization: Bearer`` (default: FNQUEUE_TOKEN).
    :param timeout: seconds one HTTP request may take (default 60; /invoke waits up to the
        API's INVOKE_TIMEOUT_MS, 30 s by default).
    """

    def __init__(self, base_url=None, api_key=None, token=None, timeout=60.0):
        self.base_url = (base_url or os.environ.get("FNQUEUE_URL") or "http://localhost:8000").rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "User-Agent": "fnqueue-python/" + __version__}
        api_key = api_key or os.environ.get("FNQUEUE_API_KEY")
        token = token or os.environ.get("FNQUEUE_TOKEN")
        if api_key:
            self.headers["X-API-Key"] = api_key
        if token:
            self.headers["Authorization"] = "Bearer " + token

    # -- HTTP ---------------------------------------------------------------------------------

    def _open(self, method, path, body=None, query=None, headers=None, timeout=None):
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None
        all_headers = dict(self.headers)
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout if timeout is None else timeout)
        except urllib.error.HTTPError as err:
            raise _error_from(err.code, err.reason, err.headers, err.read()) from None
        except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as err:
            reason = getattr(err, "reason", err)
            raise FnqueueError("UNREACHABLE", "cannot reach the fnqueue API at %s (%s)" % (self.base_url, reason), {"url": self.base_url}) from err

    def request(self, method, path, body=None, query=None, headers=None):
        """Sends one request and returns its JSON body (None for an empty one).

        :raises FnqueueError: for a non-2xx answer or no answer.
        """
        with self._open(method, path, body, query, headers) as res:
            raw = res.read()
        return json.loads(raw) if raw else None

    # -- jobs ---------------------------------------------------------------------------------

    def invoke(self, algorithm, params=None, pool=None):
        """POST /invoke: runs ``algorithm`` and waits for the answer ``{request_id, status, result, metadata}``.

        :raises FnqueueError: VALIDATION_ERROR, ALGORITHM_NOT_FOUND, ALGORITHM_ERROR, TIMEOUT (504, details.job_id).
        """
        body = {"algorithm": algorithm, "params": params or {}}
        if pool:
            body["pool"] = pool
        return self.request("POST", "/invoke", body)

    def submit(self, algorithm, params=None, idempotency_key=None, **options):
        """POST /jobs: hands a job over; returns ``{job_id, status: 'pending', message, created_at}``.

        ``options`` are the API's job options: webhook, priority, delay_ms, max_retries,
        retry_backoff, retry_interval_ms, timeout_ms, pool.
        """
        body = dict(options, algorithm=algorithm, params=params or {})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", "/jobs", body, headers=headers)

    def get_job(self, job_id):
        """GET /jobs/{job_id}. :raises FnqueueError: JOB_NOT_FOUND."""
        return self.request("GET", "/jobs/" + urllib.parse.quote(job_id, safe=""))

    def cancel_job(self, job_id):
        """POST /jobs/{job_id}/cancel: the cancelled record. :raises FnqueueError: CONFLICT when it already ended."""
        return self.request("POST", "/jobs/%s/cancel" % urllib.parse.quote(job_id, safe=""))

    def job_logs(self, job_id, tail=None, since=None, until=None):
        """GET /jobs/{job_id}/logs: ``{job_id, logs: [{ts, stream, line, attempt}], total, truncated}``."""
        return self.request("GET", "/jobs/%s/logs" % urllib.parse.quote(job_id, safe=""), query={"tail": tail, "since": since, "until": until})

    def list_jobs(self, page_size=100, **filters):
        """Yields every job matching ``filters`` (status, algorithm, function_id, schedule_id,
        created_after, created_before), newest first, a GET /jobs page at a time."""
        offset, seen = 0, set()
        while True:
            page = self.request("GET", "/jobs", query=dict(filters, limit=page_size, offset=offset))
            for job in page["jobs"]:
                if job["job_id"] not in seen:
                    seen.add(job["job_id"])
                    yield job
            offset += len(page["jobs"])
            if not page["jobs"] or offset >= page["total"]:
                return

    def wait(self, job_id, timeout=None, on_progress=None, on_status=None, transport="auto", poll_interval=0.25, max_poll_interval=5.0):
        """Waits for a job to end and returns its final record (status completed, failed or cancelled).

        Reads GET /jobs/{job_id}/events (Server-Sent Events) when the API serves it, else polls
        GET /jobs/{job_id} with backoff (``poll_interval`` seconds growing 1.5 times to
        ``max_poll_interval``). ``on_progress(progress)`` gets ``{percent, message, updated_at}``
        at each change; ``on_status(record)`` each status seen.

        :param timeout: seconds (default: no limit).
        :param transport: ``auto``, ``sse`` or ``poll``.
        :raises FnqueueError: WAIT_TIMEOUT (details.job_id, details.status), JOB_NOT_FOUND.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        state = {"status": None, "progress": None}

        def seen(record):
            progress = record.get("progress")
            if progress:
                report(progress)
            if record["status"] != state["status"]:
                state["status"] = record["status"]
                if on_status:
                    on_status(record)

        def report(progress):
            key = (progress.get("percent"), progress.get("message"))
            if key != state["progress"]:
                state["progress"] = key
                if on_progress:
                    on_progress({"percent": progress.get("percent"), "message": progress.get("message"), "updated_at": progress.get("updated_at")})

        def left():
            if deadline is None:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FnqueueError("WAIT_TIMEOUT", "job %s did not end within %s s (status %s)" % (job_id, timeout, state["status"] or "unknown"),
                                   {"job_id": job_id, "status": state["status"] or "unknown", "timeout_s": timeout})
            return remaining

        if transport != "poll":
            record = self._wait_events(job_id, seen, report, left, required=transport == "sse")
            if record is not None:
                return record
        interval, last = poll_interval, None
        while True:
            left()
            record = self.get_job(job_id)
            seen(record)
            if record["status"] in TERMINAL_STATUSES:
                return record
            key = (record["status"], json.dumps(record.get("progress"), sort_keys=True))
            interval = min(max_poll_interval, interval * 1.5) if key == last else poll_interval
            last = key
            remaining = left()
            time.sleep(interval if remaining is None else min(interval, remaining))

    def _wait_events(self, job_id, seen, report, left, required):
        """Follows the event stream; returns the final record, or None when it is not served (503, no answer)."""
        remaining = left()
        # The API sends a keep-alive comment every 15 s: a read quieter than 20 s means the stream is gone.
        read_timeout = 20.0 if remaining is None else min(20.0, remaining)
        try:
            res = self._open("GET", "/jobs/%s/events" % urllib.parse.quote(job_id, safe=""), headers={"Accept": "text/event-stream"}, timeout=read_timeout)
        except FnqueueError as err:
            if not required and (err.code in ("UNREACHABLE", "HTTP_ERROR") or err.status == 503):
                return None
            raise
        with res:
            event, data = None, []
            while True:
                # Each read waits at most read_timeout (no longer than the time left when the stream opened).
                left()
                try:
                    raw = res.readline()
                except (socket.timeout, OSError):
                    left()
                    return None if not required else self._dropped(job_id)
                if not raw:
                    return None if not required else self._dropped(job_id)
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if event and data:
                        payload = json.loads("\n".join(data))
                        if event == "status":
                            seen(payload)
                            if payload["status"] in TERMINAL_STATUSES:
                                return payload
                        elif event == "progress":
                            report(payload)
                        elif event == "error":
                            raise FnqueueError(payload.get("error", "JOB_NOT_FOUND"), payload.get("message", "the event stream ended"), payload.get("details"), status=404)
                    event, data = None, []
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)

    def _dropped(self, job_id):
        raise FnqueueError("UNREACHABLE", "the event stream of job %s dropped" % job_id, {"job_id": job_id})

    # -- functions ----------------------------------------------------------------------------

    def deploy_function(self, name, runtime, code, execution_type="sync", wait_ready=True, build_timeout=600.0, **fields):
        """POST /functions, then (``wait_ready``) re-reads it while it is ``building``.

        ``fields``: handler, timeout_ms, memory_mb, max_output_bytes, env, dependencies, project, pool.
        Returns the record: status active, or failed with its build_log.

        :raises FnqueueError: VALIDATION_ERROR (e.g. a syntax error), CONFLICT; WAIT_TIMEOUT after ``build_timeout`` s.
        """
        fn = self.request("POST", "/functions", dict(fields, name=name, runtime=runtime, code=code, execution_type=execution_type))
        deadline = time.monotonic() + build_timeout
        while wait_ready and fn["status"] == "building":
            if time.monotonic() > deadline:
                raise FnqueueError("WAIT_TIMEOUT", "function %s still building after %s s" % (fn["function_id"], build_timeout), {"function_id": fn["function_id"]})
            time.sleep(0.5)
            fn = self.get_function(fn["function_id"])
        return fn

    def get_function(self, function_id):
        """GET /functions/{function_id}. :raises FnqueueError: FUNCTION_NOT_FOUND."""
        return self.request("GET", "/functions/" + urllib.parse.quote(function_id, safe=""))

    def list_functions(self, limit=100, offset=0, project=None):
        """GET /functions: one page ``{functions, total, limit, offset}``."""
        return self.request("GET", "/functions", query={"limit": limit, "offset": offset, "project": project})

    def invoke_function(self, function_id, event=None, wait=False, timeout=None, **query):
        """POST /functions/{function_id}/invoke with ``event`` as the body.

        A sync function answers its finished job record, an async one its pending record, or with
        ``wait=True`` its final record (``timeout`` seconds as for :meth:`wait`). ``query``:
        webhook, priority, delay_ms, max_retries, timeout_ms.
        """
        record = self.request("POST", "/functions/%s/invoke" % urllib.parse.quote(function_id, safe=""), event if event is not None else {}, query=query)
        if wait and record["status"] not in TERMINAL_STATUSES:
            return self.wait(record["job_id"], timeout=timeout)
        return record

    def delete_function(self, function_id):
        """DELETE /functions/{function_id}."""
        self.request("DELETE", "/functions/" + urllib.parse.quote(function_id, safe=""))

    # -- operations ---------------------------------------------------------------------------

    def status(self):
        """GET /status: queues, workers, Redis."""
        return self.request("GET", "/status")


def _error_from(status, reason, headers, raw):
    request_id = headers.get("X-Request-Id") if headers else None
    try:
        body = json.loads(raw)
    except (ValueError, TypeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str):
        return FnqueueError(body["error"], body["message"], body.get("details"), body.get("request_id") or request_id, status)
    text = raw[:200].decode("utf-8", "replace") if raw else ""
    return FnqueueError("HTTP_ERROR", "HTTP %s %s%s" % (status, reason, ": " + text if text else ""), None, request_id, status)


def verify_webhook(secret, body, headers, tolerance=WEBHOOK_TOLERANCE_S, now=None):
    """Verifies one webhook delivery per Standard Webhooks and returns its parsed payload.

    The ``webhook-signature`` header holds space-separated ``v1,<base64>`` signatures; one must be
    the HMAC-SHA256, keyed by the base64 key after ``whsec_`` in ``secret``, of
    ``webhook-id + "." + webhook-timestamp + "." + body``. ``webhook-timestamp`` (Unix seconds)
    must be within ``tolerance`` seconds of ``now`` (default: the clock).

    :param body: the raw body exactly as received (bytes or str), not re-serialised JSON.
    :param headers: a mapping of the request headers (any case), e.g. ``self.headers`` of
        http.server or a framework's request headers.
    :raises WebhookVerificationError: a missing header, a bad secret, no matching signature, or a
        timestamp out of tolerance.
    """
    lower = {str(k).lower(): v for k, v in dict(headers).items()}
    msg_id, timestamp, signatures = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if ts < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if ts > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp is too new")
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError):
        raise WebhookVerificationError("the secret is not base64 after whsec_") from None
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    signed = msg_id.encode("utf-8", "surrogatepass") + b"." + timestamp.encode("utf-8", "surrogatepass") + b"." + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
    for entry in signatures.split(" "):
        version, _, sig = entry.partition(",")
        # Bytes, not str: compare_digest raises TypeError on a str with non-ASCII characters, and a
        # forged header may hold any, lone surrogates included (surrogatepass encodes them).
        if version == "v1" and hmac.compare_digest(sig.encode("utf-8", "surrogatepass"), expected.encode("ascii")):
            return json.loads(raw)
    raise WebhookVerificationError("no matching signature")
