"""The bundled task generators, one module per family of tasks; ``sn_core.data.tasks`` imports each module of this
folder to register its tasks (``register``), so a new generator is picked up by adding its file."""
