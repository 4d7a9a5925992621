defmodule Mix.Tasks.Compile.LinxNative do
  @moduledoc """
  Builds Linx's Rust workspace and installs the artifacts into `priv/native/`.

  Listed in `mix.exs` after `Mix.compilers()`, so it runs for Linx's own checkout, when
  Linx is a dependency (`deps/linx`, path or hex) and under `Mix.install/1`.

    * one `cargo build --release --locked` for the whole workspace;
    * artifact paths come from cargo's JSON `compiler-artifact` messages, never guessed;
    * each artifact is copied to `Mix.Project.app_path()/priv/native/` after removing the
      destination (a loaded `.so` is never overwritten in place, a running agent binary
      keeps its old inode). `lib<crate>.so` becomes `<crate>.so`; a binary (the
      `linx_agent` Port program, found through the message's `"executable"` path) keeps
      its name and is installed with mode 0755;
    * nothing changed since the last build (sources, lock file, profile, artifacts) →
      no cargo run at all;
    * `LINX_NATIVE_PROFILE=debug` builds the debug profile; `LINX_CARGO` names the cargo
      binary; `CARGO_TARGET_DIR` is honoured as cargo does.

  A missing cargo or a non-Linux OS stops the build at once with a clear message; a
  crate that fails to compile fails the build naming the crate.
  """
  use Mix.Task.Compiler

  @recursive true
  @manifest "compile.linx_native"
  @manifest_vsn 1

  @impl Mix.Task.Compiler
  def run(args) do
    {opts, _, _} = OptionParser.parse(args, switches: [force: :boolean])
    ensure_linux!(:os.type())
    root = project_root()
    profile = profile!()
    dest = Path.join(Mix.Project.app_path(), "priv/native")
    fingerprint = fingerprint(root, profile)

    if !opts[:force] and up_to_date?(fingerprint, dest) do
      {:noop, []}
    else
      build!(root, profile, dest, fingerprint)
    end
  end

  @impl Mix.Task.Compiler
  def manifests, do: [manifest_path()]

  @impl Mix.Task.Compiler
  def clean do
    _ = File.rm_rf!(Path.join(Mix.Project.app_path(), "priv/native"))
    _ = File.rm_rf!(Path.join(project_root(), "priv/native"))
    _ = File.rm(manifest_path())
    :ok
  end

  defp manifest_path, do: Path.join(Mix.Project.manifest_path(), @manifest)

  defp project_root, do: Path.dirname(Mix.Project.project_file())

  @doc false
  @spec ensure_linux!({atom(), atom()}) :: :ok
  def ensure_linux!(os_type) do
    case os_type do
      {:unix, :linux} ->
        :ok

      other ->
        Mix.raise(
          "Linx needs Linux: its native parts are Linux kernel interfaces (this OS is #{inspect(other)})"
        )
    end
  end

  defp profile! do
    case System.get_env("LINX_NATIVE_PROFILE", "release") do
      p when p in ["release", "debug"] -> p
      other -> Mix.raise("LINX_NATIVE_PROFILE must be release or debug, got: #{inspect(other)}")
    end
  end

  defp cargo! do
    case System.get_env("LINX_CARGO") do
      nil ->
        find_cargo!()

      path ->
        if File.regular?(path), do: path, else: Mix.raise("LINX_CARGO=#{path} is not a file")
    end
  end

  defp find_cargo! do
    candidates = [System.find_executable("cargo"), Path.expand("~/.cargo/bin/cargo")]

    Enum.find(candidates, fn c -> is_binary(c) and File.regular?(c) end) ||
      Mix.raise("""
      Linx needs cargo (Rust >= 1.85) to build its native code, and none was found on PATH
      or in ~/.cargo/bin. Install Rust (https://rustup.rs) or set LINX_CARGO.
      """)
  end

  # --- change detection --------------------------------------------------------------

  defp fingerprint(root, profile) do
    inputs =
      [Path.join(root, "Cargo.toml"), Path.join(root, "Cargo.lock")] ++
        Path.wildcard(Path.join(root, "native/**/*"), match_dot: false)

    stats =
      inputs
      |> Enum.sort()
      |> Enum.flat_map(fn path ->
        case File.stat(path, time: :posix) do
          {:ok, %File.Stat{type: :regular, size: size, mtime: mtime}} -> [{path, size, mtime}]
          _ -> []
        end
      end)

    :erlang.phash2({@manifest_vsn, profile, System.get_env("CARGO_TARGET_DIR"), stats})
  end

  defp up_to_date?(fingerprint, dest) do
    with {:ok, bin} <- File.read(manifest_path()),
         {@manifest_vsn, ^fingerprint, files} <- safe_binary_to_term(bin) do
      Enum.all?(files, &File.regular?(Path.join(dest, &1)))
    else
      _ -> false
    end
  end

  defp safe_binary_to_term(bin) do
    :erlang.binary_to_term(bin)
  rescue
    ArgumentError -> :corrupt
  end

  # --- build ---------------------------------------------------------------------------

  defp build!(root, profile, dest, fingerprint) do
    cargo = cargo!()
    args = ["build", "--locked", "--workspace", "--message-format=json"]
    args = if profile == "release", do: args ++ ["--release"], else: args

    Mix.shell().info("Compiling Linx native code (cargo, #{profile} profile)")

    {output, status} =
      System.cmd(cargo, args,
        cd: root,
        into: %Linx.NativeBuild.Collector{},
        stderr_to_stdout: false,
        env: [{"CARGO_TERM_COLOR", "never"}]
      )

    if status != 0 do
      failed = output.failed_crates |> Enum.uniq() |> Enum.reverse()

      named =
        case failed do
          [] -> "cargo build exited with status #{status}"
          crates -> "crate(s) #{Enum.join(crates, ", ")} failed to compile"
        end

      Mix.raise("Linx native build failed: #{named} (see the messages above)")
    end

    installed = install!(output.artifacts, dest)
    File.mkdir_p!(Path.dirname(manifest_path()))
    File.write!(manifest_path(), :erlang.term_to_binary({@manifest_vsn, fingerprint, installed}))
    {:ok, []}
  end

  defp install!(artifacts, dest) do
    File.mkdir_p!(dest)

    for {kind, path} <- artifacts do
      name = installed_name(kind, path)
      target = Path.join(dest, name)
      # Remove first: the BEAM may have the old .so mapped; a fresh inode keeps it safe.
      _ = File.rm_rf!(target)
      File.cp!(path, target)
      if kind == :bin, do: File.chmod!(target, 0o755)
      name
    end
  end

  defp installed_name(:cdylib, path) do
    path |> Path.basename(".so") |> String.replace_prefix("lib", "") |> Kernel.<>(".so")
  end

  defp installed_name(:bin, path), do: Path.basename(path)
end
