module verifybench

go 1.19
