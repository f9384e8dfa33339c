"""Every answer the integration tests saw is in docs/openapi.yaml.

test/run.py has every module record the method, path and status of each
answer it reads (RELAY_TEST_RECORD, relaytest._Recorder); LAST = True runs
this module after all of them, to find each answer's path as the relay
routes it, and that path's method and status, in the document.
test_openapi.py drives the relay to every answer the document lists; this
is the other direction.
"""

import glob
import json
import os
import unittest

from test_openapi import METHODS, Document

LAST = True


def test_every_answer_the_integration_tests_saw_is_documented():
    record_dir = os.environ.get("RELAY_TEST_RECORD")
    if not record_dir:
        raise unittest.SkipTest("RELAY_TEST_RECORD is not set (test/run.py sets it)")
    files = glob.glob(os.path.join(record_dir, "*.jsonl"))
    if not files:
        raise unittest.SkipTest("no other integration module ran")
    doc = Document()
    seen, problems = 0, {}
    for name in files:
        with open(name, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                seen += 1
                path = doc.route(r["path"])
                method = r["method"].lower()
                if method not in METHODS or method not in doc.doc["paths"][path]:
                    problems[(r["method"], path)] = "%s %s (as %s) is not documented" % (
                        r["method"], r["path"], path)
                elif str(r["status"]) not in doc.doc["paths"][path][method]["responses"]:
                    problems[(r["method"], path, r["status"])] = \
                        "%s %s (as %s) answered %d, which is not documented" % (
                            r["method"], r["path"], path, r["status"])
    assert not problems, "\n  ".join(["answers the tests saw that the document lacks:"] +
                                     sorted(problems.values()))
    return "%d answers from %d processes" % (seen, len(files))
