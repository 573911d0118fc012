"""Natural-language understanding: normalisation, intent/category classification, entity extraction."""
