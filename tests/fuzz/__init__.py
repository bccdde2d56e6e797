"""The fuzzing suite: schemathesis against the platform's OpenAPI document and Open311."""
