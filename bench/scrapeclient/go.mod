module ctrlscope/bench/scrapeclient

go 1.26
