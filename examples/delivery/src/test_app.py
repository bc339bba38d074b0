"""Unit tests the build runs before anything deploys (a failing one stops the pipeline)."""

import unittest

import app


class GreetingTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(app.greeting("Ada"), "Hello, Ada!")

    def test_defaults_to_world(self):
        self.assertEqual(app.handler({}, None)["message"], "Hello, world!")


if __name__ == "__main__":
    unittest.main()
