import os
import unittest

import handler


class HelloTest(unittest.TestCase):
    def test_hello_names_its_stage(self):
        os.environ["STAGE"] = "unit"
        self.assertEqual(handler.hello({}, None)["stage"], "unit")


if __name__ == "__main__":
    unittest.main()
