"""Images built from NvidiaImage with real distrobuilder, and their test infrastructure."""
