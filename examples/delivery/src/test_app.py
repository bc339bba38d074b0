"""Unit tests the build runs before anything deploys (a failing one stops the pipeline)."""

import json
import unittest

import app


class GreetingTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(app.greeting("Ada"), "Hello, Ada!")

    def test_defaults_to_world(self):
        body = json.loads(app.handler({}, None)["body"])
        self.assertEqual(body["message"], "Hello, world!")

    def test_status(self):
        self.assertEqual(json.loads(app.status({}, None)["body"])["status"], "ok")


if __name__ == "__main__":
    unittest.main()
