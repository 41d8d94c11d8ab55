#!/usr/bin/env bash
# test/demo/85_campaigns.sh: draws the campaign charts of the demo with gnuplot (Debian package
# gnuplot-nox, installed by `make demo`) from the CSV files 85_campaigns.sql wrote:
#   campaign_funnel.png   sent -> delivered -> opened -> clicked -> converted
#   campaign_by_day.png   the promotion by day: messages sent, delivered, opened, clicked, converted
set -euo pipefail
out=${CDP_DEMO_OUT:?}
if ! command -v gnuplot >/dev/null; then
	echo "gnuplot is not installed (Debian: apt-get install gnuplot-nox): charts not drawn; the data is in $out/*.csv"
	exit 0
fi
term='pngcairo size 1000,500 font "DejaVu Sans,11"'
gnuplot -e "set terminal $term" >/dev/null 2>&1 || term='png size 1000,500'
gnuplot <<GP
set terminal $term
set datafile separator ','
set key off
set output '$out/campaign_funnel.png'
set title 'Акция «Урология: весенний чек-ап»: путь сообщений от отправки до оплаты'
set ylabel 'сообщений'
set style fill solid 0.8
set boxwidth 0.6
set yrange [0:*]
set grid ytics
plot '$out/campaign_funnel.csv' skip 1 using 1:3:xtic(2) with boxes lc rgb '#2a7ab9', \
     '' skip 1 using 1:3:3 with labels offset 0,0.8
set output '$out/campaign_by_day.png'
set title 'Акция по дню отправки (в воскресенье не отправляем): сообщений на каждом шаге'
set offsets 43200, 43200, 1, 0
set ylabel 'сообщений'
set key top right
set xdata time
set timefmt '%Y-%m-%d'
set format x '%d.%m'
set xtics 86400
set xtics rotate by -45
plot '$out/campaign_by_day.csv' skip 1 using 1:2 with linespoints title 'отправлено', \
     '' skip 1 using 1:3 with linespoints title 'доставлено', \
     '' skip 1 using 1:4 with linespoints title 'прочитано', \
     '' skip 1 using 1:5 with linespoints title 'перешли по ссылке', \
     '' skip 1 using 1:6 with linespoints title 'оплатили приём'
GP
echo "Графики акции: $out/campaign_funnel.png, $out/campaign_by_day.png"
