// Package benchkit holds what the benchmark commands (walbench, snapbench,
// replbench) share: the facts about the machine a report was measured on,
// medians with min–max over runs, Markdown tables and number formats, the
// generated section of bench/README.md, and the process's CPU time.
package benchkit
