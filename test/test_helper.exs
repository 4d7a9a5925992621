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

ExUnit.start(exclude: excluded)
