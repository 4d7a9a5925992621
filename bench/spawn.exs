# Spawn benchmark: `mix run bench/spawn.exs` (as root).
#
# What it times, per run, from the BEAM: a /bin/true workload in new net, pid, mount,
# uts and ipc namespaces, started and reaped.
#
#   * linx      Linx.Process.spawn/1 → {:linx_process, :ready, _} (the checkpoint) →
#               proceed/1 → {:linx_process, :exited, 0} → GenServer.stop/1
#   * unshare   System.cmd("unshare", ["-fnpmiu", "/bin/true"])        (util-linux)
#   * bwrap     System.cmd("bwrap", ["--unshare-all", "--bind", "/", "/", "/bin/true"])
#   * true      System.cmd("/bin/true", [])  (no namespaces: the BEAM's own spawn cost)
#
# The contenders take turns within each round (in a shuffled order), so load from
# elsewhere on the machine falls on all of them alike. Then, if hyperfine is installed,
# the floor: the same commands exec'd straight from hyperfine, without a BEAM.
#
# Options: --runs N (default 1000), --warmup N (default 50), --phases (also time the
# Linx session's phases), --no-floor.
#
# Figures and their analysis: docs/PERFORMANCE.md, "Process spawn".

{opts, _, _} =
  OptionParser.parse(System.argv(),
    strict: [runs: :integer, warmup: :integer, gap: :integer, phases: :boolean, floor: :boolean]
  )

runs = Keyword.get(opts, :runs, 1000)
gap = Keyword.get(opts, :gap, 5)
warmup = Keyword.get(opts, :warmup, 50)
namespaces = [:net, :pid, :mount, :uts, :ipc]

defmodule SpawnBench do
  def linx(namespaces) do
    t0 = System.monotonic_time()
    {:ok, s} = Linx.Process.spawn(argv: ["/bin/true"], namespaces: namespaces)

    receive do
      {:linx_process, :ready, _host_pid} -> :ok
    end

    t1 = System.monotonic_time()
    :ok = Linx.Process.proceed(s)

    receive do
      {:linx_process, :running} -> :ok
    end

    t2 = System.monotonic_time()

    receive do
      {:linx_process, :exited, 0} -> :ok
    end

    t3 = System.monotonic_time()
    :ok = GenServer.stop(s)
    t4 = System.monotonic_time()
    {t4 - t0, [ready: t1 - t0, running: t2 - t1, exited: t3 - t2, stop: t4 - t3]}
  end

  def cmd(path, args) do
    t0 = System.monotonic_time()
    {_, 0} = System.cmd(path, args)
    {System.monotonic_time() - t0, []}
  end

  def us(native), do: System.convert_time_unit(native, :native, :nanosecond) / 1000

  def percentile(sorted, p) do
    n = length(sorted)
    Enum.at(sorted, min(n - 1, round(p / 100 * (n - 1))))
  end

  def stats(samples) do
    sorted = samples |> Enum.map(&us/1) |> Enum.sort()

    %{
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      mean: Enum.sum(sorted) / length(sorted),
      min: hd(sorted)
    }
  end

  def ms(us), do: :erlang.float_to_binary(us / 1000, decimals: 3)
end

unless match?({"0\n", 0}, System.cmd("id", ["-u"])) do
  IO.puts(:stderr, "bench/spawn.exs needs root (it creates namespaces)")
  System.halt(1)
end

unshare = System.find_executable("unshare") || raise "unshare(1) not found"
bwrap = System.find_executable("bwrap")

contenders =
  [
    {"linx", fn -> SpawnBench.linx(namespaces) end},
    {"unshare", fn -> SpawnBench.cmd(unshare, ~w(-fnpmiu /bin/true)) end},
    bwrap && {"bwrap", fn -> SpawnBench.cmd(bwrap, ~w(--unshare-all --bind / / /bin/true)) end},
    {"true", fn -> SpawnBench.cmd("/bin/true", []) end}
  ]
  |> Enum.reject(&is_nil/1)

if bwrap == nil, do: IO.puts("(bwrap is not installed: skipped; apt-get install bubblewrap)")

{:ok, cpus} = File.read("/proc/cpuinfo")
ncpu = cpus |> String.split("\n") |> Enum.count(&String.starts_with?(&1, "processor"))
{uname, 0} = System.cmd("uname", ["-r"])

IO.puts("""
Linx.Process spawn benchmark: /bin/true in new #{Enum.join(namespaces, "+")} namespaces
#{runs} runs per contender (#{warmup} warm-up), interleaved; kernel #{String.trim(uname)}, \
#{ncpu} CPUs, OTP #{System.otp_release()}, Elixir #{System.version()}
""")

for _ <- 1..warmup, {_, fun} <- contenders, do: fun.()

results =
  Enum.reduce(1..runs, %{}, fn _, acc ->
    contenders
    |> Enum.shuffle()
    |> Enum.reduce(acc, fn {name, fun}, acc ->
      # A pause between runs, so that work a run leaves behind (the kernel's deferred
      # namespace clean-up, Linx starting its next agent ahead) is not billed to the next
      # contender.
      Process.sleep(gap)
      {total, phases} = fun.()
      Map.update(acc, name, [{total, phases}], &[{total, phases} | &1])
    end)
  end)

stats =
  Map.new(results, fn {name, samples} ->
    {name, SpawnBench.stats(Enum.map(samples, &elem(&1, 0)))}
  end)

IO.puts(String.pad_trailing("contender", 10) <> "    p50 ms    p99 ms   mean ms    min ms")

for {name, _} <- contenders do
  s = stats[name]

  IO.puts(
    String.pad_trailing(name, 10) <>
      Enum.map_join([s.p50, s.p99, s.mean, s.min], "", &String.pad_leading(SpawnBench.ms(&1), 10))
  )
end

linx = stats["linx"]
IO.puts("")

for {name, _} <- contenders, name != "linx" do
  s = stats[name]
  ratio = fn a, b -> :erlang.float_to_binary(a / b, decimals: 2) end

  IO.puts(
    "linx / #{String.pad_trailing(name, 8)} p50 #{ratio.(linx.p50, s.p50)}x   p99 #{ratio.(linx.p99, s.p99)}x"
  )
end

targets = [
  {"unshare", 1.0, "Linx p50 <= 1.0x unshare(1)"},
  {"bwrap", 0.5, "Linx p50 <= 0.5x bwrap"}
]

IO.puts("")

for {name, limit, text} <- targets, s = stats[name] do
  verdict = if linx.p50 <= limit * s.p50, do: "met", else: "MISSED"

  IO.puts(
    "target #{text}: #{verdict} (#{:erlang.float_to_binary(linx.p50 / s.p50, decimals: 2)}x)"
  )
end

if Keyword.get(opts, :phases, false) do
  IO.puts("\nLinx session phases (p50 / p99 ms, as the BEAM sees them):")

  for phase <- [:ready, :running, :exited, :stop] do
    samples = for {_, phases} <- results["linx"], do: phases[phase]
    s = SpawnBench.stats(samples)

    IO.puts(
      "  #{String.pad_trailing(to_string(phase), 8)} #{SpawnBench.ms(s.p50)} / #{SpawnBench.ms(s.p99)}"
    )
  end

  IO.puts("""
    ready   = spawn/1 → :ready: GenServer start, agent exec, clone3, child set-up
    running = proceed/1 → :running: the round trip, the child's execve of /bin/true
    exited  = :running → :exited: /bin/true runs, exits; namespaces torn down; reap
    stop    = GenServer.stop/1
  """)
end

# The floor (floors/README.md): the kernel work with no BEAM in front of it.
hyperfine = System.find_executable("hyperfine")

cond do
  Keyword.get(opts, :floor, true) == false ->
    :ok

  hyperfine == nil ->
    IO.puts(
      "\nfloor: hyperfine is not installed (floors/README.md: unshare -fnpmiu 2.5 ms, /bin/true 0.6 ms)"
    )

  true ->
    json =
      Path.join(System.tmp_dir!(), "linx-spawn-floor-#{System.unique_integer([:positive])}.json")

    commands =
      ["#{unshare} -fnpmiu /bin/true", "/bin/true"] ++
        if(bwrap, do: ["#{bwrap} --unshare-all --bind / / /bin/true"], else: [])

    {_, 0} =
      System.cmd(
        hyperfine,
        ["-N", "--warmup", "20", "--runs", "300", "--export-json", json, "--style", "none"] ++
          commands,
        stderr_to_stdout: true
      )

    # hyperfine's JSON: {"results": [{"command": ..., "mean": ..., "median": ...}, ...]}
    rows = Regex.scan(~r/"command":\s*"([^"]*)".*?"median":\s*([-+0-9.eE]+)/s, File.read!(json))
    File.rm(json)
    IO.puts("\nfloor (hyperfine -N, 300 runs, exec'd without a BEAM; median ms):")

    for [_, cmd, median] <- rows do
      {median, _} = Float.parse(median)

      IO.puts(
        "  #{String.pad_leading(:erlang.float_to_binary(median * 1000, decimals: 3), 7)}  #{cmd}"
      )
    end

    IO.puts("  (floors/README.md, measured 2026-11-23: unshare -fnpmiu 2.5, /bin/true 0.6)")
end
