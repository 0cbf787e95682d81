"""Parquet exports of the stored datasets for downstream tools, with their name crosswalks."""
