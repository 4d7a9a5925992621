# Tags whose requirement this machine lacks are excluded, and the reason is printed:
# an excluded test is visible in the summary, never counted as a pass.
excluded =
  for {tag, check} <- Linx.Test.Features.checks(),
      reason =
        (case check.() do
           :ok -> nil
           {:missing, why} -> why
         end),
      reason != nil do
    IO.puts(:stderr, "excluding @tag #{inspect(tag)}: #{reason}")
    tag
  end

# The host must look the same after the suite as before it, with no sandbox left over.
host_before = Linx.Test.HostGuard.snapshot()

ExUnit.after_suite(fn _result ->
  changed = Linx.Test.HostGuard.diff(host_before, Linx.Test.HostGuard.snapshot())
  leftovers = Linx.Test.HostGuard.leftovers()

  if changed != [] or leftovers != [] do
    now = Linx.Test.HostGuard.snapshot()

    details =
      for key <- changed do
        "  #{key}: #{inspect(Linx.Test.HostGuard.describe(key, host_before[key], now[key]), limit: :infinity)}"
      end

    IO.puts(
      :stderr,
      "\nHOST GUARD FAILED: host state changed: #{inspect(changed)}; leftovers: #{inspect(leftovers)}\n" <>
        Enum.join(details, "\n")
    )

    System.at_exit(fn _ -> exit({:shutdown, 1}) end)
  else
    IO.puts(
      "host guard: host links, addresses, routes, rules, nft ruleset, sysctls and mounts unchanged; no leftovers"
    )
  end
end)

ExUnit.start(exclude: excluded)
