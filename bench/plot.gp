# Plots of the comparison bench (make bench; make bench-quick with its own dir).
# SPDX-License-Identifier: MIT
#   gnuplot -e "dir='bench/results'" bench/plot.gp
# Reads dir/sizes.dat and dir/cdf-{trace,fanout}-{crypto,durable}.dat written by
# build/bench-compare; writes dir/sizes.{png,svg} and dir/trace-cdf.{png,svg}.

if (!exists("dir")) dir = "bench/results"
blocks(f) = system("sed -n 's/^#impl //p' '".f."' | tr '\\n' ' '")

sizes = dir."/sizes.dat"
snames = blocks(sizes)
cdfc = dir."/cdf-trace-crypto.dat"
cdfd = dir."/cdf-trace-durable.dat"
cnames = blocks(cdfc)
# an implementation's colour is its position in sizes.dat, in every plot
idx(n) = words(substr(" ".snames." ", 1, strstrt(" ".snames." ", " ".n." "))) + 1
dnames = blocks(cdfd)

# 11 distinct colours (gnuplot's default cycle repeats after 8); set linetype
# survives reset.
colors = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf #000000 #aa3377"
do for [i=1:words(colors)] { set linetype i lc rgb word(colors, i) lw 2 }

do for [fmt in "png svg"] {
    if (fmt eq "png") { set terminal pngcairo size 1100,700 font "sans,10" } \
    else { set terminal svg size 1100,700 font "sans,10" dynamic }

    set output dir."/sizes.".fmt
    reset
    set title "Per-message cost against message size (sender + receiver; median of the repetitions)"
    set logscale xy
    set xlabel "plaintext bytes"
    set ylabel "microseconds per message"
    set xtics ("64 B" 64, "1 KiB" 1024, "16 KiB" 16384, "100 KiB" 102400)
    set grid
    set key outside right top
    plot for [i=1:words(snames)] sizes index (i-1) using 1:2 with linespoints lt i pt (i%13)+1 title word(snames, i)
    unset output

    set output dir."/trace-cdf.".fmt
    reset
    set multiplot layout 1,2 title "Trace replay (bench/workload/agent-session.tsv): per-message latency CDF, all repetitions"
    set logscale x
    set grid
    set key bottom right
    set xlabel "microseconds per message (encrypt + decrypt)"
    set ylabel "fraction of messages"
    set yrange [0:1]
    set title "crypto only"
    plot for [i=1:words(cnames)] cdfc index (i-1) using 1:2 with lines lt idx(word(cnames, i)) title word(cnames, i)
    set title "durable (SQLite, WAL, synchronous=FULL)"
    plot for [i=1:words(dnames)] cdfd index (i-1) using 1:2 with lines lt idx(word(dnames, i)) title word(dnames, i)
    unset multiplot
    unset output
}
