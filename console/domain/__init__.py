"""Pure domain logic: pydantic models and rules. No Qt, no I/O, no clocks."""
