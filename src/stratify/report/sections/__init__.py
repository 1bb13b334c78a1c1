"""One module per report section: ``<id>_context(config, r)`` reads the stage's results into the
values of ``templates/sections/<id>.html.j2``, and ``section_<id>(config, r)`` renders it.

To add a section: a module here, its template, and a line in ``stratify.report.build.SECTIONS``.
"""
