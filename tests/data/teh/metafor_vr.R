# Cross-check of `stratify teh vr` with R's metafor: reads an arms table (TSV, the format of
# docs/heterogeneity.md), pairs every treatment arm with the control arm of its study (and
# measure, scale), and prints metafor's escalc + rma results, one value per line:
#   <measure>\t<VR|CVR>\t<FE|REML>\t<statistic>\t<value>
# Usage: Rscript metafor_vr.R arms.tsv
# lnCVR is given |mean| and only pairs whose means are non-zero and of the same sign, as
# stratify does (metafor returns NaN for a negative mean).
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(metafor))
a <- read.delim(args[1], quote = "", comment.char = "", stringsAsFactors = FALSE,
                na.strings = character(0), colClasses = c(study = "character", arm = "character"))
if (!"measure" %in% names(a)) a$measure <- ""
if (!"scale" %in% names(a)) a$scale <- ""
trt <- a[a$group == "treatment", ]
ctl <- a[a$group == "control", ]
d <- merge(trt, ctl, by = c("study", "measure", "scale"), suffixes = c(".t", ".c"))
cat(sprintf("#\tmetafor\t%s\tR\t%s\n", as.character(packageVersion("metafor")), R.version.string))
out <- function(ms, es, model, fit, d) {
  stat <- c(k = fit$k, n_studies = length(unique(d$study)), estimate = as.numeric(fit$beta), se = fit$se,
            z = fit$zval, p = fit$pval, ci_low = fit$ci.lb, ci_high = fit$ci.ub, tau2 = fit$tau2,
            Q = fit$QE, Q_p = fit$QEp, I2 = fit$I2, H2 = fit$H2)
  if (model == "REML") {
    pr <- predict(fit)
    stat <- c(stat, pi_low = pr$pi.lb, pi_high = pr$pi.ub)
  }
  for (s in names(stat)) cat(sprintf("%s\t%s\t%s\t%s\t%.15g\n", ms, es, model, s, stat[[s]]))
}
for (ms in sort(unique(d$measure))) {
  dm <- d[d$measure == ms, ]
  vr <- escalc(measure = "VR", sd1i = sd.t, sd2i = sd.c, n1i = n.t, n2i = n.c, data = dm)
  ok <- dm$mean.t * dm$mean.c > 0
  dc <- dm[ok, ]
  cvr <- escalc(measure = "CVR", m1i = abs(mean.t), m2i = abs(mean.c), sd1i = sd.t, sd2i = sd.c,
                n1i = n.t, n2i = n.c, data = dc)
  for (es in c("VR", "CVR")) {
    y <- if (es == "VR") vr else cvr
    dd <- if (es == "VR") dm else dc
    if (nrow(y) == 0) next
    out(ms, es, "FE", rma(yi, vi, data = y, method = "FE"), dd)
    out(ms, es, "REML", rma(yi, vi, data = y, method = "REML"), dd)
  }
}
