//! Command-line definitions (clap). Only definitions live here.
