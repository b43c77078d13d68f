"""Data set sources: one module each, one record type, one registry (``get_source``)."""

from pipeline.sources.base import SOURCES, Source, VideoRecord, get_source, source_for

__all__ = ["SOURCES", "Source", "VideoRecord", "get_source", "source_for"]
