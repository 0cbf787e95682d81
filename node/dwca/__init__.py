"""Darwin Core archives: safe unpacking, meta.xml, EML, streaming reader and writer."""
