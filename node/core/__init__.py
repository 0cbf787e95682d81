"""The foundation every layer stands on: errors, constants, configuration, identity, terms."""
