from snakemake.utils import min_version

min_version("9.0")


# The default config only when none is given: Snakemake would otherwise merge it under a
# --configfile, and keys of the demo would leak into another experiment.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/flow.smk"
include: "workflow/rules/users.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
