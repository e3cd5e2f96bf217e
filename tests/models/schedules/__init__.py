"""Tests of models.schedules, one module per source module."""
