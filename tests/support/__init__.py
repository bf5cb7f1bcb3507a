"""Test doubles and real local services the tests run against."""
