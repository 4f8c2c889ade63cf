"""Tests of fnqueue.py against a real fnqueue API (test/e2e/python-client.test.ts runs them).

Reads FNQUEUE_URL (the API) and FNQUEUE_WEBHOOK_FIXTURE: a JSON file with a secret and a
delivery the API's webhook sender signed with it ({secret, body, headers, job_id}).
"""

import json
import os
import time
import unittest

import fnqueue


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.fnq = fnqueue.Client()

    def test_invoke_answers_the_result(self):
        answer = self.fnq.invoke("PrimeChecker", {"number": 17})
        self.assertEqual(answer["status"], "success")
        self.assertEqual(answer["result"], {"number": 17, "is_prime": True, "factors": [], "algorithm": "trial_division"})

    def test_a_refusal_raises_fnqueue_error_with_the_api_fields(self):
        with self.assertRaises(fnqueue.FnqueueError) as caught:
            self.fnq.invoke("PrimeChecker", {"number": "abc"})
        err = caught.exception
        self.assertEqual((err.code, err.status), ("VALIDATION_ERROR", 400))
        self.assertEqual(err.details["field"], "params.number")
        self.assertRegex(err.request_id, r"^[0-9a-f-]{36}$")
        with self.assertRaises(fnqueue.FnqueueError) as missing:
            self.fnq.get_job("a1b2c3d4e5f6")
        self.assertEqual((missing.exception.code, missing.exception.status), ("JOB_NOT_FOUND", 404))

    def test_no_answer_raises_unreachable(self):
        with self.assertRaises(fnqueue.FnqueueError) as caught:
            fnqueue.Client("http://127.0.0.1:9", timeout=5).status()
        self.assertEqual(caught.exception.code, "UNREACHABLE")
        self.assertIsNone(caught.exception.status)

    def test_wait_follows_progress_over_events_and_over_polling(self):
        for transport in ("sse", "poll"):
            job = self.fnq.submit("Sleep", {"ms": 1200, "steps": 3})
            self.assertEqual(job["status"], "pending")
            progress, statuses = [], []
            record = self.fnq.wait(job["job_id"], timeout=30, transport=transport, on_progress=progress.append, on_status=lambda r: statuses.append(r["status"]))
            self.assertEqual(record["status"], "completed", transport)
            self.assertGreaterEqual(record["result"]["slept_ms"], 1200)
            percents = [p["percent"] for p in progress]
            self.assertEqual(percents[-1], 100, transport)
            self.assertEqual(percents, sorted(percents), transport)
            if transport == "sse":
                self.assertEqual(percents, [25, 50, 75, 100])
                self.assertEqual([p["message"] for p in progress], ["step 1 of 4", "step 2 of 4", "step 3 of 4", "done"])
            self.assertEqual(statuses[-1], "completed")

    def test_wait_raises_wait_timeout_and_the_job_goes_on(self):
        job = self.fnq.submit("Sleep", {"ms": 2000})
        started = time.monotonic()
        with self.assertRaises(fnqueue.FnqueueError) as caught:
            self.fnq.wait(job["job_id"], timeout=0.4)
        self.assertLess(time.monotonic() - started, 1.9)
        self.assertEqual(caught.exception.code, "WAIT_TIMEOUT")
        self.assertIn(caught.exception.details["status"], ("pending", "running"))
        self.assertEqual(self.fnq.wait(job["job_id"], timeout=30)["status"], "completed")

    def test_a_failed_and_a_cancelled_job_end_the_wait(self):
        failed = self.fnq.wait(self.fnq.submit("Crash", {"throw": True})["job_id"], timeout=30)
        self.assertEqual(failed["status"], "failed")
        self.assertIn("Crash algorithm threw on purpose", failed["error"])
        job = self.fnq.submit("Sleep", {"ms": 10000}, delay_ms=60000)
        self.assertEqual(self.fnq.cancel_job(job["job_id"])["status"], "cancelled")
        self.assertEqual(self.fnq.wait(job["job_id"], timeout=10)["status"], "cancelled")

    def test_list_jobs_pages_through_every_job_once(self):
        ids = [self.fnq.submit("Echo", {"value": i})["job_id"] for i in range(4)]
        for job_id in ids:
            self.fnq.wait(job_id, timeout=30)
        listed = [j["job_id"] for j in self.fnq.list_jobs(page_size=2, algorithm="Echo")]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertEqual([j for j in listed if j in ids], list(reversed(ids)))

    def test_functions_deploy_invoke_sync_and_async_and_delete(self):
        fn = self.fnq.deploy_function("py-client-double", "python", 'def handler(event):\n    print("n is", event["n"])\n    return {"double": event["n"] * 2}\n')
        self.assertEqual((fn["status"], fn["version"]), ("active", 1))
        record = self.fnq.invoke_function(fn["function_id"], {"n": 21})
        self.assertEqual(record["status"], "completed", record.get("error"))
        self.assertEqual(record["result"], {"double": 42})
        self.assertEqual([l["line"] for l in self.fnq.job_logs(record["job_id"])["logs"]], ["n is 21"])

        slow = self.fnq.deploy_function("py-client-async", "python", "def handler(event):\n    return {'seen': event}\n", execution_type="async")
        pending = self.fnq.invoke_function(slow["function_id"], {"v": 1})
        self.assertIn(pending["status"], ("pending", "running"))
        done = self.fnq.invoke_function(slow["function_id"], {"v": 2}, wait=True, timeout=60)
        self.assertEqual(done["result"], {"seen": {"v": 2}})

        with self.assertRaises(fnqueue.FnqueueError) as bad:
            self.fnq.deploy_function("py-client-bad", "python", "def handler(:\n")
        self.assertEqual(bad.exception.code, "VALIDATION_ERROR")
        for f in (fn, slow):
            self.fnq.delete_function(f["function_id"])
        with self.assertRaises(fnqueue.FnqueueError) as gone:
            self.fnq.get_function(fn["function_id"])
        self.assertEqual(gone.exception.code, "FUNCTION_NOT_FOUND")


class WebhookTest(unittest.TestCase):
    """verify_webhook on a delivery the real webhook sender signed."""

    @classmethod
    def setUpClass(cls):
        with open(os.environ["FNQUEUE_WEBHOOK_FIXTURE"], encoding="utf-8") as f:
            cls.fixture = json.load(f)

    def test_verifies_a_real_signed_delivery(self):
        fx = self.fixture
        payload = fnqueue.verify_webhook(fx["secret"], fx["body"].encode("utf-8"), fx["headers"])
        self.assertEqual(payload["job_id"], fx["job_id"])
        self.assertEqual(payload["status"], "completed")
        # Any header case, a str body.
        upper = {k.upper(): v for k, v in fx["headers"].items()}
        self.assertEqual(fnqueue.verify_webhook(fx["secret"], fx["body"], upper)["job_id"], fx["job_id"])

    def test_refuses_a_changed_body_another_secret_and_missing_headers(self):
        fx = self.fixture
        with self.assertRaises(fnqueue.WebhookVerificationError):
            fnqueue.verify_webhook(fx["secret"], fx["body"].replace('"number":17', '"number":18'), fx["headers"])
        with self.assertRaises(fnqueue.WebhookVerificationError):
            fnqueue.verify_webhook("whsec_" + "A" * 44, fx["body"], fx["headers"])
        headers = dict(fx["headers"])
        del headers["webhook-signature"]
        with self.assertRaises(fnqueue.WebhookVerificationError):
            fnqueue.verify_webhook(fx["secret"], fx["body"], headers)

    def test_refuses_a_timestamp_out_of_tolerance(self):
        fx = self.fixture
        ts = int(fx["headers"]["webhook-timestamp"])
        self.assertEqual(fnqueue.verify_webhook(fx["secret"], fx["body"], fx["headers"], now=ts + 299)["job_id"], fx["job_id"])
        with self.assertRaises(fnqueue.WebhookVerificationError) as late:
            fnqueue.verify_webhook(fx["secret"], fx["body"], fx["headers"], now=ts + 301)
        self.assertIn("too old", str(late.exception))
        with self.assertRaises(fnqueue.WebhookVerificationError) as early:
            fnqueue.verify_webhook(fx["secret"], fx["body"], fx["headers"], now=ts - 301)
        self.assertIn("too new", str(early.exception))
        # A replayed delivery with a forged fresh timestamp fails the signature instead.
        forged = dict(fx["headers"], **{"webhook-timestamp": str(ts + 600)})
        with self.assertRaises(fnqueue.WebhookVerificationError):
            fnqueue.verify_webhook(fx["secret"], fx["body"], forged, now=ts + 600)

    def test_refuses_a_signature_with_non_ascii_characters(self):
        fx = self.fixture
        ts = int(fx["headers"]["webhook-timestamp"])
        for forged_signature in ("v1,\u00e9t\u00e9", "v1,Zm9yZ2Vk v1,\u00fc", "v1,\udcff"):
            forged = dict(fx["headers"], **{"webhook-signature": forged_signature})
            with self.assertRaises(fnqueue.WebhookVerificationError) as refused:
                fnqueue.verify_webhook(fx["secret"], fx["body"], forged, now=ts)
            self.assertIn("no matching signature", str(refused.exception))
        for forged_id in ("\u00e9", "\udcff"):
            forged = dict(fx["headers"], **{"webhook-id": forged_id})
            with self.assertRaises(fnqueue.WebhookVerificationError):
                fnqueue.verify_webhook(fx["secret"], fx["body"], forged, now=ts)
        # The real signature still matches beside a non-ASCII entry.
        beside = dict(fx["headers"], **{"webhook-signature": "v1,\u00e9 " + fx["headers"]["webhook-signature"]})
        self.assertEqual(fnqueue.verify_webhook(fx["secret"], fx["body"], beside, now=ts)["job_id"], fx["job_id"])


if __name__ == "__main__":
    unittest.main()
