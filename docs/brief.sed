# A Doxygen input filter for the public headers (see Doxyfile.in): Doxygen
# ends a brief description at the first ". " (or "." at the end of a line),
# so "(e.g. 403)" would cut the summary line short. In comment lines only,
# "e.g.", "i.e." and "vs." get Doxygen's own escape (".\ "), which renders
# as a plain ". ". Lines are neither added nor removed, so warnings keep
# their line numbers.
/\/\/[/!<]/{
  s/\([ (]\)\(e\.g\|i\.e\|vs\)\. /\1\2.\\ /g
  s/\([ (]\)\(e\.g\|i\.e\|vs\)\.$/\1\2.\\ /
}
